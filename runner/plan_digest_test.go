package runner

import (
	"testing"

	tfjson "github.com/hashicorp/terraform-json"
)

// The digest names what a plan changes: equal for equal changes, different
// when a planned value, an action or an output differs.
func TestPlanChangesDigest(t *testing.T) {
	t.Parallel()
	plan := func(after string, actions tfjson.Actions, out string) *tfjson.Plan {
		return &tfjson.Plan{
			ResourceChanges: []*tfjson.ResourceChange{{Address: "terraform_data.x", Change: &tfjson.Change{
				Actions: actions, After: map[string]any{"input": after}}}},
			OutputChanges: map[string]*tfjson.Change{"o": {Actions: tfjson.Actions{tfjson.ActionCreate}, After: out}},
		}
	}
	base := summarizePlan(plan("a", tfjson.Actions{tfjson.ActionCreate}, "1"), false).ChangesDigest
	if base == "" {
		t.Fatal("no digest")
	}
	if again := summarizePlan(plan("a", tfjson.Actions{tfjson.ActionCreate}, "1"), false).ChangesDigest; again != base {
		t.Errorf("equal plans have digests %s and %s", base, again)
	}
	for name, p := range map[string]*tfjson.Plan{
		"value":  plan("b", tfjson.Actions{tfjson.ActionCreate}, "1"),
		"action": plan("a", tfjson.Actions{tfjson.ActionDelete}, "1"),
		"output": plan("a", tfjson.Actions{tfjson.ActionCreate}, "2"),
	} {
		if d := summarizePlan(p, false).ChangesDigest; d == base {
			t.Errorf("a plan with another %s has the same digest", name)
		}
	}
}
