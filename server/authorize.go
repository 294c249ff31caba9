package server

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/atollhq/atoll/config"
	"github.com/atollhq/atoll/templates"
	"github.com/atollhq/atoll/vcs"
)

// PermissionAny is the --command-permission value that lets anyone who can
// comment run commands (the team allowlist still applies).
const PermissionAny = "any"

// permissionTTL is how long a user's repository permission is trusted before
// GitHub is asked again: a revoked collaborator loses access within a minute.
const permissionTTL = time.Minute

// maxCachedPermissions bounds the permission cache; past it, expired entries
// are dropped, then the whole cache if none had expired.
const maxCachedPermissions = 10000

// authorized decides whether the commenter may run command: first their
// repository permission (at least --command-permission), then the team
// allowlist (the repo's override in repos.yaml, else --gh-team-allowlist).
// A refusal is commented on the PR with the rule that refused it; nothing runs.
func (r *prRun) authorized(ctx context.Context, command string) bool {
	return r.hasPermission(ctx, command) && r.teamAllowed(ctx, command)
}

// hasPermission checks the commenter's repository permission. A refused user
// gets a comment naming the rule; no status is set, so a stranger cannot
// change what a pull request's checks say.
func (r *prRun) hasPermission(ctx context.Context, command string) bool {
	need := r.s.cfg.CommandPermission
	if need == PermissionAny {
		return true
	}
	have, err := r.s.perms.get(ctx, r.w.Repo, r.w.User)
	if err != nil {
		r.log.Error("read repository permission", "user", r.w.User, "error", err)
		r.comment(ctx, refusedBody("atoll "+command,
			"Atoll could not read @"+r.w.User+"'s permission on "+r.w.Repo.FullName()+" from GitHub, so nothing ran.",
			"Try again in a minute."))
		return false
	}
	if have.AtLeast(vcs.Permission(need)) {
		return true
	}
	r.log.Info("command refused: repository permission too low", "user", r.w.User, "command", command, "permission", have, "needs", need)
	r.auditRefusal(ctx, command, fmt.Sprintf("repository permission %s is below %s", permissionName(have), need))
	r.comment(ctx, refusedBody("atoll "+command,
		fmt.Sprintf("@%s may not run `atoll %s` on %s: commands need **%s** permission on the repository, and @%s has %s (set by the server's `--command-permission`).",
			r.w.User, command, r.w.Repo.FullName(), need, r.w.User, permissionName(have)),
		"Ask someone with "+need+" access to run it, or ask a repository admin for access."))
	return false
}

func permissionName(p vcs.Permission) string {
	if p == vcs.PermNone || p == "" {
		return "no access"
	}
	return string(p)
}

func refusedBody(command, reason, fix string) string {
	body, err := templates.Refused(templates.RefusedData{Command: command, Reason: reason, Fix: fix})
	if err != nil {
		return reason
	}
	return body
}

// teamAllowed checks the team allowlist for command. With no allowlist
// everyone who passed the permission check may run every command.
func (r *prRun) teamAllowed(ctx context.Context, command string) bool {
	allow := r.s.teamAllowlist(r.w.Repo, r.pull.BaseBranch)
	if !allow.HasRules() {
		return true
	}
	anyone, teams, _ := allow.Who(command)
	if anyone {
		return true
	}
	var member []string
	for _, t := range teams {
		if r.inTeam(ctx, t) {
			member = append(member, t)
		}
	}
	if allow.Allowed(member, r.w.User, command) {
		return true
	}
	r.log.Info("command refused by team allowlist", "user", r.w.User, "command", command)
	statusCtx := statusPlan
	if command == CmdApply {
		statusCtx = statusApply
	}
	source := "the server's `--gh-team-allowlist`"
	if allow != r.s.cfg.TeamAllow {
		source = "`team_allowlist` in the server's repos.yaml"
	}
	who := allow.Describe(command)
	rule := "Only " + who + " may run it"
	fix := "Ask one of them to comment `atoll " + command + "`, or ask an admin to change " + source + "."
	if nobody, ok := strings.CutPrefix(who, "nobody: "); ok {
		rule = "Nobody may run it here: " + nobody
		fix = "Ask an admin to change " + source + "."
	}
	r.auditRefusal(ctx, command, rule+" (set by "+source+")")
	r.comment(ctx, refusedBody("atoll "+command,
		"@"+r.w.User+" may not run `atoll "+command+"` on "+r.w.Repo.FullName()+". "+rule+" (set by "+source+").", fix))
	if command != CmdUnlock && command != CmdImport && command != CmdState {
		r.setStatus(ctx, statusCtx, vcs.StatusFailure, "@"+r.w.User+" may not run atoll "+command)
	}
	return false
}

// teamAllowlist returns the allowlist that applies to repo.
func (s *Server) teamAllowlist(repo vcs.Repo, baseBranch string) *config.TeamAllowlist {
	if res, err := s.cfg.RepoCfg.Resolve(repo.ID(), baseBranch, nil); err == nil && res.TeamAllowlist.HasRules() {
		return res.TeamAllowlist
	}
	return s.cfg.TeamAllow
}

// inTeam reports whether the commenter is in team, written "slug" (a team of
// the repository's owner) or "org/slug". Errors count as not a member.
func (r *prRun) inTeam(ctx context.Context, team string) bool {
	if r.s.cfg.Teams == nil {
		return false
	}
	org, slug := r.w.Repo.Owner, team
	if o, s, ok := strings.Cut(team, "/"); ok {
		org, slug = o, s
	}
	ok, err := r.s.cfg.Teams.TeamMember(ctx, org, slug, r.w.User)
	if err != nil {
		r.log.Error("check team membership", "team", team, "error", err)
		return false
	}
	return ok
}

// permissionCache remembers users' repository permissions for permissionTTL,
// so a burst of commands and review checks costs one API call per user.
type permissionCache struct {
	get0 vcs.PermissionGetter
	now  func() time.Time
	mu   sync.Mutex // guards m
	m    map[string]cachedPermission
}

type cachedPermission struct {
	perm    vcs.Permission
	expires time.Time
}

func newPermissionCache(g vcs.PermissionGetter, now func() time.Time) *permissionCache {
	return &permissionCache{get0: g, now: now, m: map[string]cachedPermission{}}
}

// get returns user's permission on repo, from the cache when fresh. Errors
// are not cached.
func (c *permissionCache) get(ctx context.Context, repo vcs.Repo, user string) (vcs.Permission, error) {
	if user == "" {
		return vcs.PermNone, nil
	}
	key := repo.ID() + "\x00" + strings.ToLower(user)
	now := c.now()
	c.mu.Lock()
	e, ok := c.m[key]
	c.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.perm, nil
	}
	p, err := c.get0.RepoPermission(ctx, repo, user)
	if err != nil {
		return vcs.PermNone, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= maxCachedPermissions {
		for k, v := range c.m {
			if !now.Before(v.expires) {
				delete(c.m, k)
			}
		}
		if len(c.m) >= maxCachedPermissions {
			clear(c.m)
		}
	}
	c.m[key] = cachedPermission{perm: p, expires: now.Add(permissionTTL)}
	return p, nil
}
