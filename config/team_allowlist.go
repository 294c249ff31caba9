package config

import (
	"fmt"
	"strings"
)

// commandNames are the comment commands an allowlist or hook can name.
var commandNames = []string{"plan", "apply", "unlock", "import", "state", "approve_policies", "policy_check", "version"}

// TeamAllowlist says which GitHub teams and users may run which comment commands,
// in Atlantis's --gh-team-allowlist syntax: "team:command" pairs separated by commas,
// where "*" stands for any team or any command. Atoll also accepts "@login" in place
// of a team to name a single user. A team written without an organisation
// ("platform") matches that team slug in any organisation; "acme/platform" matches
// only that one. An allowlist with no rules allows everyone, as in Atlantis.
type TeamAllowlist struct {
	rules []allowRule
}

type allowRule struct {
	// who is "*", a team ("platform" or "acme/platform"), or a user ("@alice"), lowercased.
	who     string
	command string
}

// ParseTeamAllowlist parses "team:command,team2:*". Commands are plan, apply, unlock,
// import, state, approve_policies, policy_check, version, or *.
func ParseTeamAllowlist(s string) (*TeamAllowlist, error) {
	a := &TeamAllowlist{}
	for _, raw := range strings.Split(s, ",") {
		entry := strings.TrimSpace(raw)
		if entry == "" {
			continue
		}
		who, cmd, ok := strings.Cut(entry, ":")
		who, cmd = strings.TrimSpace(who), strings.TrimSpace(cmd)
		if !ok || who == "" || cmd == "" {
			return nil, fmt.Errorf("team allowlist entry %q must be team:command, for example platform:apply or *:plan", entry)
		}
		if who == "@" || strings.ContainsAny(who, " \t") || strings.Count(who, "/") > 1 {
			return nil, fmt.Errorf("team allowlist entry %q: %q is not a team, @user or *", entry, who)
		}
		if cmd != "*" && !contains(commandNames, cmd) {
			return nil, fmt.Errorf("team allowlist entry %q: %q is not a command; use %s or *%s", entry, cmd, quoteList(commandNames), didYouMean(cmd, commandNames))
		}
		a.rules = append(a.rules, allowRule{who: strings.ToLower(who), command: cmd})
	}
	return a, nil
}

// String returns the allowlist in its flag syntax.
func (a *TeamAllowlist) String() string {
	if a == nil {
		return ""
	}
	parts := make([]string, len(a.rules))
	for i, r := range a.rules {
		parts[i] = r.who + ":" + r.command
	}
	return strings.Join(parts, ",")
}

// HasRules reports whether the allowlist restricts anything.
func (a *TeamAllowlist) HasRules() bool { return a != nil && len(a.rules) > 0 }

// Allowed reports whether user, a member of teams ("org/slug" or "slug"), may run
// command. A nil or empty allowlist allows everything.
func (a *TeamAllowlist) Allowed(teams []string, user string, command string) bool {
	if !a.HasRules() {
		return true
	}
	for _, r := range a.rules {
		if r.command != "*" && r.command != command {
			continue
		}
		switch {
		case r.who == "*":
			return true
		case strings.HasPrefix(r.who, "@"):
			if user != "" && strings.EqualFold(r.who[1:], strings.TrimPrefix(user, "@")) {
				return true
			}
		default:
			for _, t := range teams {
				if teamMatches(r.who, t) {
					return true
				}
			}
		}
	}
	return false
}

// teamMatches compares a rule's team with a user's team, case-insensitively; a
// side without an organisation compares slugs only.
func teamMatches(rule, team string) bool {
	team = strings.ToLower(team)
	if rule == team {
		return true
	}
	_, ruleSlug, ruleHasOrg := strings.Cut(rule, "/")
	_, teamSlug, teamHasOrg := strings.Cut(team, "/")
	switch {
	case !ruleHasOrg && teamHasOrg:
		return rule == teamSlug
	case ruleHasOrg && !teamHasOrg:
		return ruleSlug == team
	}
	return false
}

// Who returns who may run command: anyone, or the teams and users named for it.
func (a *TeamAllowlist) Who(command string) (anyone bool, teams, users []string) {
	if !a.HasRules() {
		return true, nil, nil
	}
	seen := map[string]bool{}
	for _, r := range a.rules {
		if (r.command != "*" && r.command != command) || seen[r.who] {
			continue
		}
		seen[r.who] = true
		switch {
		case r.who == "*":
			return true, nil, nil
		case strings.HasPrefix(r.who, "@"):
			users = append(users, r.who)
		default:
			teams = append(teams, r.who)
		}
	}
	return false, teams, users
}

// Describe says in plain words who may run command, for a refusal comment:
// "members of the team platform, or @alice". It never names a secret.
func (a *TeamAllowlist) Describe(command string) string {
	anyone, teams, users := a.Who(command)
	if anyone {
		return "anyone"
	}
	var parts []string
	switch len(teams) {
	case 0:
	case 1:
		parts = append(parts, "members of the team "+teams[0])
	default:
		parts = append(parts, "members of the teams "+joinOr(teams))
	}
	if len(users) > 0 {
		parts = append(parts, joinOr(users))
	}
	if len(parts) == 0 {
		return fmt.Sprintf("nobody: no allowlist entry grants %s", command)
	}
	return strings.Join(parts, ", or ")
}

func joinOr(list []string) string {
	if len(list) <= 1 {
		return strings.Join(list, "")
	}
	return strings.Join(list[:len(list)-1], ", ") + " or " + list[len(list)-1]
}
