package config

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestProjectPattern(t *testing.T) {
	t.Parallel()
	r := &Resolved{ConfiguredProjects: []Project{
		{Name: "dev-a", Dir: "a"}, {Name: "dev-b", Dir: "b"}, {Name: "prod-c", Dir: "c"}, {Dir: "unnamed"},
	}}
	tests := []struct {
		name     string
		expr     string
		prefixes []string
		want     []string // dirs
		errIn    string
	}{
		{"several, no prefixes listed", "dev-.*", nil, []string{"a", "b"}, ""},
		{"several, allowed prefix", "dev-.*", []string{"staging-", "dev-"}, []string{"a", "b"}, ""},
		{"several, prefix not allowed", ".*", []string{"dev-"}, nil, "`-p .*` matches 3 projects (dev-a, dev-b, prod-c), and the repo config's allowed_regexp_prefixes lets a regular expression select several projects only when it starts with `dev-`."},
		{"two prefixes named", "(dev|prod)-.", []string{"dev-", "staging-"}, nil, "starts with `dev-` or `staging-`"},
		{"one match needs no prefix", "prod-.*", []string{"dev-"}, []string{"c"}, ""},
		{"anchored at both ends", "dev", nil, nil, "`-p dev` matches no project name (the whole name must match); projects: dev-a, dev-b, prod-c"},
		{"alternation stays anchored", "dev-a|prod", nil, []string{"a"}, ""},
		{"an exact name", "dev-b", []string{"staging-"}, []string{"b"}, ""},
		{"invalid", "dev-(", nil, nil, "`-p dev-(` is not a valid regular expression: missing closing ): `dev-(`"},
		{"too long", strings.Repeat("a", MaxProjectPattern+1), nil, nil, "a regular expression there may have at most 128"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pat, err := CompileProjectPattern(tt.expr, tt.prefixes)
			var got []Project
			if err == nil {
				got, err = r.SelectPattern(pat)
			}
			if tt.errIn != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errIn) {
					t.Fatalf("error = %v, want one containing %q", err, tt.errIn)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var dirs []string
			for _, p := range got {
				dirs = append(dirs, p.Dir)
			}
			if diff := cmp.Diff(tt.want, dirs); diff != "" {
				t.Errorf("selected dirs (-want +got):\n%s", diff)
			}
		})
	}
}

func TestProjectPatternNoNames(t *testing.T) {
	t.Parallel()
	pat, err := CompileProjectPattern(".*", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = (&Resolved{ConfiguredProjects: []Project{{Dir: "a"}}}).SelectPattern(pat)
	if err == nil || !strings.Contains(err.Error(), "no project has a name here") {
		t.Errorf("error = %v, want one saying no project has a name", err)
	}
}
