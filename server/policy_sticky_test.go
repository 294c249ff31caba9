package server

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/atollhq/atoll/config"
	"github.com/atollhq/atoll/locking"
)

func TestKeepStickyApprovals(t *testing.T) {
	t.Parallel()
	pols := &config.Policies{PolicySets: []config.PolicySet{
		{Name: "whole", StickyPolicyApprovals: true},
		{Name: "items", StickyPolicyApprovals: true, PolicyItemRegex: `terraform_data\.\w+`},
		{Name: "plain"},
	}}
	prev := &locking.PolicyCheck{Results: []locking.PolicyResult{
		{Set: "whole", Failures: []string{"a: bad", "b: bad"}, Approvals: []string{"carol"}},
		{Set: "items", Failures: []string{"terraform_data.a: bad", "terraform_data.b: bad"}, Required: 2, Approvals: []string{"carol", "dave"}},
		{Set: "plain", Failures: []string{"x"}, Approvals: []string{"carol"}},
	}}
	tests := []struct {
		name string
		cur  []locking.PolicyResult
		kept []string
		want map[string][]string // approvals by set after
	}{
		{"same failures keep approvals where sticky",
			[]locking.PolicyResult{{Set: "whole", Failures: []string{"a: bad", "b: bad"}}, {Set: "items", Failures: []string{"terraform_data.b: bad"}}, {Set: "plain", Failures: []string{"x"}}},
			[]string{"whole", "items"}, map[string][]string{"whole": {"carol"}, "items": {"carol", "dave"}, "plain": nil}},
		{"the default item is the whole output: any change drops the approvals",
			[]locking.PolicyResult{{Set: "whole", Failures: []string{"a: bad"}}},
			nil, map[string][]string{"whole": nil}},
		{"a new item drops the approvals",
			[]locking.PolicyResult{{Set: "items", Failures: []string{"terraform_data.a: still bad", "terraform_data.c: bad"}}},
			nil, map[string][]string{"items": nil}},
		{"a reworded message with the same items keeps them",
			[]locking.PolicyResult{{Set: "items", Failures: []string{"terraform_data.a: still bad"}}},
			[]string{"items"}, map[string][]string{"items": {"carol", "dave"}}},
		{"a passing set needs none",
			[]locking.PolicyResult{{Set: "whole"}},
			nil, map[string][]string{"whole": nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cur := &locking.PolicyCheck{Results: tt.cur}
			kept := keepStickyApprovals(prev, cur, pols)
			if diff := cmp.Diff(tt.kept, kept); diff != "" {
				t.Errorf("kept (-want +got):\n%s", diff)
			}
			got := map[string][]string{}
			for _, r := range cur.Results {
				got[r.Set] = r.Approvals
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("approvals (-want +got):\n%s", diff)
			}
		})
	}
}
