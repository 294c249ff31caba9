// Package github implements Atoll's vcs interfaces on GitHub and GitHub
// Enterprise Server with go-github: pull requests (and merging them), changed
// files, comments, commit statuses, reviews, repository permissions, team
// membership and drift issues, authenticated with a personal access token or
// as a GitHub App installation. Every request goes through a retrying
// transport that honours GitHub's rate limits (see retry.go). WebhookParser
// verifies and parses webhook deliveries into vcs.Event values.
//
// Tokens never appear in logs or errors: only methods, URL paths and status
// codes are logged, and the Authorization header is never read back. Nor
// are tokens ever sent where a payload says: every clone and web URL is
// built from configuration (GitBaseURL) and a repository's full name, which
// must be a name GitHub allows, never copied from a webhook or API answer.
package github

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/bradleyfalzon/ghinstallation/v2"
	gh "github.com/google/go-github/v60/github"

	"github.com/atollhq/atoll/vcs"
)

// DefaultHostname is the hostname of public GitHub.
const DefaultHostname = "github.com"

// appGitUser is the user name GitHub expects with an installation token over HTTPS.
const appGitUser = "x-access-token"

// Config configures a Client. Set either Token or the three App fields.
type Config struct {
	// Hostname is "github.com" (the default) or a GitHub Enterprise Server
	// hostname. It becomes vcs.Repo.Host of every repo the client returns.
	Hostname string
	// APIURL is the REST API base URL, for example
	// "https://ghe.example.com/api/v3/" or the fake GitHub's APIURL(). Empty
	// means https://api.github.com/ for github.com and https://HOST/api/v3/
	// otherwise. Clone and web URLs are derived from Hostname and APIURL with
	// GitBaseURL, so an explicit APIURL must be https://api.github.com/ or
	// end in /api/v3/.
	APIURL string
	// User is the bot's login (Atlantis' --gh-user). With a token it is also
	// the user name for git over HTTPS.
	User string
	// Token is a personal access token.
	Token string
	// AppID, AppKey (PEM-encoded RSA private key) and InstallationID
	// authenticate as a GitHub App installation; installation tokens are
	// fetched and refreshed as needed.
	AppID          int64
	AppKey         []byte
	InstallationID int64
	// HTTPClient is the base client; its Transport (default
	// http.DefaultTransport) and Timeout are used. Nil means a plain client.
	HTTPClient *http.Client
	// Logger receives retry and rate-limit warnings. Nil discards them.
	Logger *slog.Logger
	// Metrics, when set, counts every request and keeps the rate limit.
	Metrics *Metrics
	// MaxRetries bounds retries of one request. Zero means 3; negative
	// disables retries.
	MaxRetries int
	// MaxWait bounds one wait between retries. Zero means 60s. A rate limit
	// that resets later than this is returned to the caller instead.
	MaxWait time.Duration
	// Now and Sleep replace the clock in tests. Sleep must return ctx.Err()
	// when ctx ends first. Nil means real time.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
}

// Client talks to one GitHub host with one identity. It is safe for
// concurrent use.
type Client struct {
	gh       *gh.Client
	hostname string
	gitBase  string // GitBaseURL of the configuration
	user     string
	token    string                    // personal access token; empty for Apps
	app      *ghinstallation.Transport // nil for token auth
}

var _ vcs.Client = (*Client)(nil)

// New returns a client for cfg. It makes no network calls.
func New(cfg Config) (*Client, error) {
	hostname := cfg.Hostname
	if hostname == "" {
		hostname = DefaultHostname
	}
	apiURL, err := apiBaseURL(hostname, cfg.APIURL)
	if err != nil {
		return nil, err
	}
	gitBase, err := GitBaseURL(hostname, cfg.APIURL)
	if err != nil {
		return nil, fmt.Errorf("configure github: %w", err)
	}
	hasApp := cfg.AppID != 0 || len(cfg.AppKey) > 0 || cfg.InstallationID != 0
	switch {
	case cfg.Token != "" && hasApp:
		return nil, errors.New("configure github: set either a token or a GitHub App, not both")
	case cfg.Token == "" && !hasApp:
		return nil, errors.New("configure github: no credentials: set a token or a GitHub App")
	case hasApp && (cfg.AppID == 0 || len(cfg.AppKey) == 0 || cfg.InstallationID == 0):
		return nil, errors.New("configure github: a GitHub App needs an app ID, a private key and an installation ID")
	}

	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	base := http.DefaultTransport
	var timeout time.Duration
	if cfg.HTTPClient != nil {
		if cfg.HTTPClient.Transport != nil {
			base = cfg.HTTPClient.Transport
		}
		timeout = cfg.HTTPClient.Timeout
	}
	if cfg.Metrics != nil {
		base = metricsTransport{next: base, m: cfg.Metrics} // under the retries: each attempt counts
	}
	rt := newRetryTransport(base, cfg, logger)

	c := &Client{hostname: hostname, gitBase: gitBase, user: cfg.User, token: cfg.Token}
	if hasApp {
		itr, err := ghinstallation.New(rt, cfg.AppID, cfg.InstallationID, cfg.AppKey)
		if err != nil {
			// The parse error names the problem, never the key material.
			return nil, fmt.Errorf("configure github app %d: %w", cfg.AppID, err)
		}
		itr.BaseURL = strings.TrimSuffix(apiURL.String(), "/")
		c.app = itr
		c.gh = gh.NewClient(&http.Client{Transport: itr, Timeout: timeout})
	} else {
		c.gh = gh.NewClient(&http.Client{Transport: rt, Timeout: timeout}).WithAuthToken(cfg.Token)
	}
	c.gh.BaseURL = apiURL
	c.gh.UploadURL = apiURL
	return c, nil
}

// apiBaseURL returns the REST base URL for hostname, always with a trailing slash.
func apiBaseURL(hostname, override string) (*url.URL, error) {
	raw := override
	switch {
	case raw != "":
	case hostname == DefaultHostname:
		raw = "https://api.github.com/"
	default:
		raw = "https://" + hostname + "/api/v3/"
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("configure github: parse API URL %q: %w", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("configure github: API URL %q: want http(s)://host/", raw)
	}
	if u.User != nil {
		return nil, errors.New("configure github: API URL must not carry credentials")
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	return u, nil
}

// Hostname returns the host this client talks to, as used in vcs.Repo.Host.
func (c *Client) Hostname() string { return c.hostname }

// GitURL returns the base of every clone and web URL this client returns,
// GitBaseURL(Config.Hostname, Config.APIURL), for example
// "https://github.com". Give the same value to WebhookParser.GitURL.
func (c *Client) GitURL() string { return c.gitBase }

// GitToken returns a token git can clone and fetch with over HTTPS: the
// personal access token, or a current installation token for a GitHub App
// (fetched or refreshed as needed). Pair it with GitUser.
func (c *Client) GitToken(ctx context.Context) (string, error) {
	if c.app == nil {
		return c.token, nil
	}
	tok, err := c.app.Token(ctx)
	if err != nil {
		return "", fmt.Errorf("get github app installation token: %w", err)
	}
	return tok, nil
}

// GitUser returns the user name for git over HTTPS: "x-access-token" for a
// GitHub App, otherwise Config.User (or "x-access-token" when that is empty,
// which GitHub also accepts with a personal access token).
func (c *Client) GitUser() string {
	if c.app != nil || c.user == "" {
		return appGitUser
	}
	return c.user
}

// TeamMember reports whether user is an active member of team (by slug) in
// org. A pending invitation is not membership.
func (c *Client) TeamMember(ctx context.Context, org, team, user string) (bool, error) {
	m, _, err := c.gh.Teams.GetTeamMembershipBySlug(ctx, org, team, user)
	if err != nil {
		if isNotFound(err) {
			return false, nil
		}
		return false, wrapErr(fmt.Sprintf("get membership of %s in team %s/%s", user, org, team), err)
	}
	return m.GetState() == "active", nil
}

// isNotFound reports whether err is GitHub's 404.
func isNotFound(err error) bool {
	var er *gh.ErrorResponse
	return errors.As(err, &er) && er.Response != nil && er.Response.StatusCode == http.StatusNotFound
}

// wrapErr says what failed and maps GitHub's 404 to vcs.ErrNotFound.
// go-github's errors carry the method, the URL and GitHub's message, never
// request headers.
func wrapErr(action string, err error) error {
	if isNotFound(err) {
		return fmt.Errorf("%s: %w: %w", action, vcs.ErrNotFound, err)
	}
	return fmt.Errorf("%s: %w", action, err)
}
