package server

import (
	"context"
	"strings"

	"github.com/atollhq/atoll/config"
	"github.com/atollhq/atoll/templates"
	"github.com/atollhq/atoll/vcs"
)

// authorized checks the team allowlist (the repo's override in repos.yaml, else
// --gh-team-allowlist) for cmd. With no allowlist everyone may run every command.
// A refusal is commented on the PR with who may run the command.
func (r *prRun) authorized(ctx context.Context, command string) bool {
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
	body, err := templates.Refused(templates.RefusedData{
		Command: "atoll " + command,
		Reason:  "@" + r.w.User + " may not run `atoll " + command + "` on " + r.w.Repo.FullName() + ". " + rule + " (set by " + source + ").",
		Fix:     fix,
	})
	if err == nil {
		r.comment(ctx, body)
	}
	if command != CmdUnlock {
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
