package github

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/atollhq/atoll/vcs"
)

// GitBaseURL returns the base URL repositories are cloned from and their web
// pages live under, without a trailing slash: a repository's clone URL is
// BASE/OWNER/NAME.git and a pull request's page BASE/OWNER/NAME/pull/N.
// Atoll derives these from its own configuration, never from a webhook
// payload, so a forged payload cannot send the bot's token elsewhere.
//
// hostname is Config.Hostname ("" means github.com) and apiURL Config.APIURL:
//
//   - github.com with no API URL, or with https://api.github.com/, gives
//     "https://github.com";
//   - another hostname (GitHub Enterprise Server) with no API URL gives
//     "https://HOST";
//   - an API URL whose path ends in /api/v3 (the layout of GitHub Enterprise
//     Server and of vcstest's fake GitHub) gives that URL without /api/v3,
//     for example "https://ghe.example.com" or "http://127.0.0.1:8080";
//   - any other API URL is an error: the git URL cannot be derived from it.
func GitBaseURL(hostname, apiURL string) (string, error) {
	if hostname == "" {
		hostname = DefaultHostname
	}
	if apiURL == "" {
		if hostname == DefaultHostname {
			return "https://github.com", nil
		}
		u, err := url.Parse("https://" + hostname)
		if err != nil || u.Host != hostname || u.Path != "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
			return "", fmt.Errorf("derive git URL: hostname %q is not a host name", hostname)
		}
		return u.String(), nil
	}
	u, err := parseBaseURL("API URL", apiURL)
	if err != nil {
		return "", fmt.Errorf("derive git URL: %w", err)
	}
	if u.Scheme == "https" && strings.EqualFold(u.Host, "api.github.com") && u.Path == "" {
		return "https://github.com", nil
	}
	prefix, ok := strings.CutSuffix(u.Path, "/api/v3")
	if !ok {
		return "", fmt.Errorf("derive git URL: API URL %q is neither https://api.github.com/ nor ends in /api/v3/, so the git URL cannot be derived from it", apiURL)
	}
	u.Path, u.RawPath = prefix, ""
	return u.String(), nil
}

// parseBaseURL parses an http(s) base URL from configuration: it must have a
// host and carry no credentials, query or fragment. The returned URL's path
// has no trailing slash.
func parseBaseURL(what, raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error quotes the input, which could carry credentials.
		return nil, fmt.Errorf("%s is not a URL", what)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https" || u.Host == "":
		return nil, fmt.Errorf("%s %q: want http(s)://host/", what, raw)
	case u.User != nil:
		return nil, fmt.Errorf("%s must not carry credentials", what)
	case u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		return nil, fmt.Errorf("%s %q must not have a query or fragment", what, raw)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

// Names GitHub allows: an owner (user or organisation) login, and a
// repository name (which is also never "." or "..").
var (
	validOwner    = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$`)
	validRepoName = regexp.MustCompile(`^[A-Za-z0-9._-]{1,100}$`)
)

// errBadRepoName is wrapped when a payload or response names a repository
// GitHub could not have.
var errBadRepoName = errors.New("invalid repository name")

// checkRepoName reports an owner or name GitHub does not allow. Names are
// quoted with %q so control characters cannot forge log lines.
func checkRepoName(owner, name string) error {
	if !validOwner.MatchString(owner) {
		return fmt.Errorf("%w: owner %q", errBadRepoName, owner)
	}
	if !validRepoName.MatchString(name) || name == "." || name == ".." {
		return fmt.Errorf("%w: name %q", errBadRepoName, name)
	}
	return nil
}

// cloneURL is BASE/OWNER/NAME.git for a checked owner and name.
func cloneURL(base, owner, name string) string {
	return base + "/" + url.PathEscape(owner) + "/" + url.PathEscape(name) + ".git"
}

// webURL is BASE/OWNER/NAME/KIND/NUM, the page of pull request ("pull") or
// issue ("issues") num.
func webURL(base string, repo vcs.Repo, kind string, num int) string {
	return base + "/" + url.PathEscape(repo.Owner) + "/" + url.PathEscape(repo.Name) + "/" + kind + "/" + strconv.Itoa(num)
}
