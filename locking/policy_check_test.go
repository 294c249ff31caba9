package locking

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestPolicyCheckApprovals(t *testing.T) {
	t.Parallel()
	fail := []string{"denied"}
	tests := []struct {
		name      string
		pc        *PolicyCheck
		passed    bool
		approvers []string
	}{
		{"no check", nil, false, nil},
		{"every set passed", &PolicyCheck{Results: []PolicyResult{{Set: "a"}, {Set: "b", Warnings: []string{"w"}}}}, true, nil},
		{"a failure without approvals", &PolicyCheck{Results: []PolicyResult{{Set: "a", Failures: fail}}}, false, nil},
		{"required 0 counts as 1", &PolicyCheck{Results: []PolicyResult{{Set: "a", Failures: fail, Approvals: []string{"x"}}}}, true, []string{"x"}},
		{"1 of 2", &PolicyCheck{Results: []PolicyResult{{Set: "a", Failures: fail, Required: 2, Approvals: []string{"x"}}}}, false, []string{"x"}},
		{"2 of 2", &PolicyCheck{Results: []PolicyResult{{Set: "a", Failures: fail, Required: 2, Approvals: []string{"x", "y"}}}}, true, []string{"x", "y"}},
		{"one set still short", &PolicyCheck{Results: []PolicyResult{
			{Set: "a", Failures: fail, Approvals: []string{"y"}},
			{Set: "b", Failures: fail, Required: 2, Approvals: []string{"x"}},
		}}, false, []string{"y", "x"}},
		{"a record from before per-set approvals", &PolicyCheck{ApprovedBy: "carol", Results: []PolicyResult{{Set: "a", Failures: fail, Required: 3}}}, true, []string{"carol"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.pc.Passed(); got != tt.passed {
				t.Errorf("Passed() = %v, want %v", got, tt.passed)
			}
			if diff := cmp.Diff(tt.approvers, tt.pc.Approvers()); diff != "" {
				t.Errorf("Approvers() (-want +got):\n%s", diff)
			}
		})
	}
}
