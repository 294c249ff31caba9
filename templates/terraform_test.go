package templates

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/atollhq/atoll/internal/testenv"
)

// terraform runs the real terraform binary in dir and returns its output.
func terraform(t *testing.T, tf string, env []string, dir string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), tf, args...)
	cmd.Dir = dir
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("terraform %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestRealTerraformComments renders comments from the output of a real Terraform
// 1.5.7 run: a plan that creates and destroys, then its apply.
func TestRealTerraformComments(t *testing.T) {
	t.Parallel()
	tf := testenv.Terraform(t)
	env := testenv.TerraformEnv(t)
	dir := t.TempDir()
	write := func(src string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, "main.tf"), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(`resource "terraform_data" "old" { input = "legacy" }` + "\n")
	terraform(t, tf, env, dir, "init", "-no-color", "-input=false")
	terraform(t, tf, env, dir, "apply", "-no-color", "-input=false", "-auto-approve")

	write(`resource "terraform_data" "web" { input = "v1" }` + "\n")
	terraform(t, tf, env, dir, "plan", "-no-color", "-input=false", "-out=tfplan")
	show := terraform(t, tf, env, dir, "show", "-no-color", "tfplan")

	p := Project{
		Name: "network", Dir: "network", Workspace: "default", Status: StatusPlanned,
		Counts: Counts{Add: 1, Destroy: 1}, Output: show,
		Resources: []Resource{{Action: ActionDelete, Address: "terraform_data.old"}, {Action: ActionCreate, Address: "terraform_data.web"}},
	}
	got, err := Plan(Comment{Projects: []Project{p}, JobURL: jobURL})
	if err != nil {
		t.Fatal(err)
	}
	checkComment(t, got, []string{
		"\n+ resource \"terraform_data\" \"web\" {\n",
		"\n- resource \"terraform_data\" \"old\" {\n",
	})
	checkComment(t, visible(got), []string{
		"— 1 to add, 0 to change, **1 to destroy**",
		"⚠️ **This plan destroys 1 resource:** `terraform_data.old`.",
		"\nPlan: 1 to add, 0 to change, 1 to destroy.\n",
	})
	start := strings.Index(got, "```diff\n") + len("```diff\n")
	checkDiffLines(t, got[start:start+strings.Index(got[start:], "\n```\n")])
	checkParts(t, got, MinSplitLimit)

	out := terraform(t, tf, env, dir, "apply", "-no-color", "-input=false", "tfplan")
	p.Status, p.Output = StatusApplied, out
	got, err = Apply(Comment{Projects: []Project{p}, JobURL: jobURL})
	if err != nil {
		t.Fatal(err)
	}
	checkComment(t, visible(got), []string{
		"### Apply for `network` · workspace `default` — succeeded\n",
		"\nApply complete! Resources: 1 added, 0 changed, 1 destroyed.\n",
	})
	checkComment(t, got, []string{"terraform_data.old: Destruction complete"})
}
