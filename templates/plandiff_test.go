package templates

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestPlanDiff(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
	}{
		{"create", "  + resource \"terraform_data\" \"web\" {", "+ resource \"terraform_data\" \"web\" {"},
		{"nested create", "      + id     = (known after apply)", "+     id     = (known after apply)"},
		{"update", "      ~ size = \"small\" -> \"large\"", "~     size = \"small\" -> \"large\""},
		{"destroy", "  - resource \"terraform_data\" \"old\" {", "- resource \"terraform_data\" \"old\" {"},
		{"deep list item", "          - \"a\",", "-         \"a\","},
		{"replace kept", "-/+ resource \"terraform_data\" \"db\" {", "-/+ resource \"terraform_data\" \"db\" {"},
		{"create before destroy kept", "+/- resource \"terraform_data\" \"db\" {", "+/- resource \"terraform_data\" \"db\" {"},
		{"closing brace", "    }", "  }"},
		{"unchanged attribute", "        id     = \"f699\"", "      id     = \"f699\""},
		{"hidden note", "        # (1 unchanged attribute hidden)", "      # (1 unchanged attribute hidden)"},
		{"resource comment kept", "  # terraform_data.web will be created", "  # terraform_data.web will be created"},
		{"read kept", " <= data \"x\" \"y\" {", " <= data \"x\" \"y\" {"},
		{"column 0 text", "Plan: 1 to add, 0 to change, 0 to destroy.", " Plan: 1 to add, 0 to change, 0 to destroy."},
		{"column 0 dash is not a marker", "-----", " -----"},
		{"marker without space is text", "  +x", "  +x"},
		{"lone marker", "  +", "+"},
		{"blank", "", ""},
		{"trailing spaces dropped", "  + a   ", "+ a"},
		{"colour codes removed", "\x1b[32m  + resource \"a\" \"b\" {\x1b[0m", "+ resource \"a\" \"b\" {"},
		{"crlf", "  + a\r\n    }\r\n", "+ a\n  }"},
		{"leading and trailing blank lines", "\n\n  + a\n\n", "+ a"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(tc.want, PlanDiff(tc.in)); diff != "" {
				t.Errorf("PlanDiff(%q) mismatch (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}

func TestPlanDiffRealOutput(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"plan_create.txt", "plan_destroy.txt", "plan_no_changes.txt", "plan_large.txt"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			in := tfOut(t, name)
			got := PlanDiff(in)
			checkDiffLines(t, got)
			want := len(strings.Split(strings.Trim(in, "\n"), "\n"))
			if n := len(strings.Split(got, "\n")); n != want {
				t.Errorf("PlanDiff has %d lines, want %d (one per input line)", n, want)
			}
		})
	}
}

// checkDiffLines asserts every line of a diff block starts with a diff marker or a space.
func checkDiffLines(t *testing.T, diff string) {
	t.Helper()
	for i, l := range strings.Split(diff, "\n") {
		if l != "" && !strings.ContainsRune("+-~ ", rune(l[0])) {
			t.Errorf("line %d %q starts with %q", i+1, l, l[0])
		}
	}
}
