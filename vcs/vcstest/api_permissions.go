package vcstest

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/google/go-github/v60/github"

	"github.com/atollhq/atoll/vcs"
)

// permissionJSON is GitHub's answer to GET
// /repos/{o}/{r}/collaborators/{user}/permission. go-github v60's
// RepositoryPermissionLevel has no role_name, so it is spelt out here.
type permissionJSON struct {
	// Permission is the legacy role: admin, write, read or none.
	Permission string `json:"permission"`
	// RoleName is the role: admin, maintain, write, triage, read or none.
	RoleName string       `json:"role_name"`
	User     *github.User `json:"user"`
}

// legacyPermission maps a role to the legacy "permission" field, as GitHub
// does: maintain reads as write and triage as read.
func legacyPermission(p vcs.Permission) string {
	switch p {
	case vcs.PermAdmin:
		return "admin"
	case vcs.PermMaintain, vcs.PermWrite:
		return "write"
	case vcs.PermTriage, vcs.PermRead:
		return "read"
	default:
		return "none"
	}
}

// parseRoles validates Options.BasePermissions, keyed by lowercase login
// (logins are case-insensitive on GitHub).
func parseRoles(in map[string]string) (map[string]vcs.Permission, error) {
	out := make(map[string]vcs.Permission, len(in))
	for login, role := range in {
		if !validName.MatchString(login) {
			return nil, fmt.Errorf("Options.BasePermissions: invalid login %q", login)
		}
		p, err := vcs.ParsePermission(role)
		if err != nil {
			return nil, fmt.Errorf("Options.BasePermissions[%q]: %w", login, err)
		}
		out[strings.ToLower(login)] = p
	}
	return out, nil
}

// SetPermission gives user role on repo (admin, maintain, write, triage,
// read or none, in any case), overriding every other rule for that user
// and repo, the repository owner's admin included. It fails for an unknown
// repo or role.
func (s *Server) SetPermission(repo vcs.Repo, user, role string) error {
	p, err := vcs.ParsePermission(role)
	if err != nil {
		return fmt.Errorf("set permission of %s on %s: %w", user, repo.FullName(), err)
	}
	if !validName.MatchString(user) {
		return fmt.Errorf("set permission on %s: invalid login %q", repo.FullName(), user)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rs, err := s.lookupRepo(repo.Owner, repo.Name)
	if err != nil {
		return fmt.Errorf("set permission of %s: %w", user, err)
	}
	if rs.perms == nil {
		rs.perms = map[string]vcs.Permission{}
	}
	rs.perms[strings.ToLower(user)] = p
	return nil
}

// permissionLocked returns user's role on rs: the role SetPermission gave,
// else admin for the repository's owner, else the user's
// Options.BasePermissions entry, else read (every repository is public).
// Callers hold s.mu.
func (s *Server) permissionLocked(rs *repoState, user string) vcs.Permission {
	key := strings.ToLower(user)
	if p, ok := rs.perms[key]; ok {
		return p
	}
	if strings.EqualFold(user, rs.owner) {
		return vcs.PermAdmin
	}
	if p, ok := s.basePerms[key]; ok {
		return p
	}
	return vcs.PermRead
}

// getPermission serves GET /repos/{o}/{r}/collaborators/{user}/permission.
// A login GitHub could not have gets 404, as an unknown user does on GitHub.
func (s *Server) getPermission(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rs, ok := s.apiRepo(w, r)
	if !ok {
		return
	}
	user := r.PathValue("user")
	if !validName.MatchString(user) && !validBotName(user) {
		writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	p := s.permissionLocked(rs, user)
	writeJSON(w, http.StatusOK, permissionJSON{
		Permission: legacyPermission(p),
		RoleName:   string(p),
		User:       s.userJSON(user),
	})
}

// validBotName reports whether login is an app's bot user, "name[bot]".
func validBotName(login string) bool {
	name, ok := strings.CutSuffix(login, "[bot]")
	return ok && validName.MatchString(name)
}
