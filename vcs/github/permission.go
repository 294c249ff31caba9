package github

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"

	"github.com/atollhq/atoll/vcs"
)

var _ vcs.PermissionGetter = (*Client)(nil)

// validLogin is what a user login can look like: GitHub's usernames, the
// "_shortcode" suffix of Enterprise Managed Users and the "[bot]" suffix of
// apps. It keeps path syntax ("/", "..", "?") out of the request URL.
var validLogin = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,99}(?:\[bot\])?$`)

// permissionLevel is GitHub's answer to GET
// /repos/{owner}/{repo}/collaborators/{username}/permission. go-github v60's
// RepositoryPermissionLevel lacks role_name, so it is decoded here.
type permissionLevel struct {
	// Permission is the legacy role: admin, write, read or none.
	Permission string `json:"permission"`
	// RoleName is the role itself: admin, maintain, write, triage, read, or
	// the name of an organisation's custom role.
	RoleName string `json:"role_name"`
}

// RepoPermission returns user's role on repo, from GitHub's collaborator
// permission API. GitHub's role_name is preferred, since it tells maintain
// and triage apart; when it is missing or a custom role, the legacy
// permission (admin, write, read, none) is used. GitHub's 404 (no such user)
// and a login GitHub could not have are PermNone without an error.
func (c *Client) RepoPermission(ctx context.Context, repo vcs.Repo, user string) (vcs.Permission, error) {
	action := fmt.Sprintf("get permission of %q on %s", user, repo.FullName())
	if err := checkRepoName(repo.Owner, repo.Name); err != nil {
		return vcs.PermNone, fmt.Errorf("%s: %w", action, err)
	}
	if !validLogin.MatchString(user) {
		return vcs.PermNone, nil
	}
	u := fmt.Sprintf("repos/%s/%s/collaborators/%s/permission",
		url.PathEscape(repo.Owner), url.PathEscape(repo.Name), url.PathEscape(user))
	req, err := c.gh.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return vcs.PermNone, fmt.Errorf("%s: %w", action, err)
	}
	var level permissionLevel
	if _, err := c.gh.Do(ctx, req, &level); err != nil {
		if isNotFound(err) {
			return vcs.PermNone, nil
		}
		return vcs.PermNone, wrapErr(action, err)
	}
	if p, err := vcs.ParsePermission(level.RoleName); err == nil {
		return p, nil
	}
	p, err := vcs.ParsePermission(level.Permission)
	if err != nil {
		return vcs.PermNone, fmt.Errorf("%s: GitHub answered neither a known role_name nor a known permission (role_name %q, permission %q)",
			action, level.RoleName, level.Permission)
	}
	return p, nil
}
