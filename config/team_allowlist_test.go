package config

import "testing"

func TestTeamAllowlist(t *testing.T) {
	t.Parallel()
	a, err := ParseTeamAllowlist(" platform:* , *:plan, acme/sre:apply, @Alice:apply, dev:unlock ")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := a.String(), "platform:*,*:plan,acme/sre:apply,@alice:apply,dev:unlock"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	tests := []struct {
		teams   []string
		user    string
		command string
		want    bool
	}{
		{nil, "bob", "plan", true},
		{nil, "bob", "apply", false},
		{[]string{"acme/platform"}, "bob", "apply", true},
		{[]string{"Platform"}, "bob", "state", true},
		{[]string{"acme/sre"}, "bob", "apply", true},
		{[]string{"sre"}, "bob", "apply", true},
		{[]string{"other/sre"}, "bob", "apply", false},
		{[]string{"acme/sre"}, "bob", "unlock", false},
		{nil, "alice", "apply", true},
		{nil, "@ALICE", "apply", true},
		{nil, "alice", "unlock", false},
		{[]string{"acme/dev"}, "carol", "unlock", true},
	}
	for _, tt := range tests {
		if got := a.Allowed(tt.teams, tt.user, tt.command); got != tt.want {
			t.Errorf("Allowed(%v, %q, %q) = %v, want %v", tt.teams, tt.user, tt.command, got, tt.want)
		}
	}
	describe := map[string]string{
		"plan":   "anyone",
		"apply":  "members of the teams platform or acme/sre, or @alice",
		"unlock": "members of the teams platform or dev",
		"import": "members of the team platform",
	}
	for cmd, want := range describe {
		if got := a.Describe(cmd); got != want {
			t.Errorf("Describe(%q) = %q, want %q", cmd, got, want)
		}
	}
	only, _ := ParseTeamAllowlist("@bob:apply,@carol:apply")
	if got, want := only.Describe("apply"), "@bob or @carol"; got != want {
		t.Errorf("Describe = %q, want %q", got, want)
	}
	if got, want := only.Describe("plan"), "nobody: no allowlist entry grants plan"; got != want {
		t.Errorf("Describe = %q, want %q", got, want)
	}
}

func TestTeamAllowlistEmptyAllowsAll(t *testing.T) {
	t.Parallel()
	var nilList *TeamAllowlist
	empty, err := ParseTeamAllowlist("")
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []*TeamAllowlist{nilList, empty} {
		if a.HasRules() || !a.Allowed(nil, "anyone", "apply") || a.Describe("apply") != "anyone" {
			t.Errorf("an allowlist without rules must allow everyone: %q", a.String())
		}
	}
}

func TestParseTeamAllowlistErrors(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"platform":           `team allowlist entry "platform" must be team:command, for example platform:apply or *:plan`,
		"platform:":          `team allowlist entry "platform:" must be team:command, for example platform:apply or *:plan`,
		":plan":              `team allowlist entry ":plan" must be team:command, for example platform:apply or *:plan`,
		"platform:aply":      `team allowlist entry "platform:aply": "aply" is not a command; use "plan", "apply", "unlock", "import", "state", "approve_policies", "policy_check", "version" or * (did you mean "apply"?)`,
		"a/b/c:plan":         `team allowlist entry "a/b/c:plan": "a/b/c" is not a team, @user or *`,
		"my team:plan":       `team allowlist entry "my team:plan": "my team" is not a team, @user or *`,
		"@:plan":             `team allowlist entry "@:plan": "@" is not a team, @user or *`,
		"*:plan,ops:destroy": `team allowlist entry "ops:destroy": "destroy" is not a command; use "plan", "apply", "unlock", "import", "state", "approve_policies", "policy_check", "version" or *`,
	}
	for in, want := range tests {
		_, err := ParseTeamAllowlist(in)
		if err == nil || err.Error() != want {
			t.Errorf("ParseTeamAllowlist(%q) error = %v, want %q", in, err, want)
		}
	}
}
