package server

import (
	"testing"

	"github.com/atollhq/atoll/config"
	"github.com/atollhq/atoll/templates"
)

func TestRequirementsFix(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		checks []templates.Requirement
		want   string
	}{
		{"approved", []templates.Requirement{{Name: config.ReqApproved}}, "Ask a reviewer with write access, other than the author, to approve the latest commit."},
		{"met ones are skipped", []templates.Requirement{{Name: config.ReqApproved, Met: true}, {Name: config.ReqUndiverged}},
			"Merge or rebase the latest `main` into the branch; Atoll plans again on the push."},
		{"all met", []templates.Requirement{{Name: config.ReqMergeable, Met: true}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := requirementsFix(tc.checks, "main"); got != tc.want {
				t.Errorf("requirementsFix = %q, want %q", got, tc.want)
			}
		})
	}
}
