package runner

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/atollhq/atoll/config"
	"github.com/atollhq/atoll/internal/testenv"
	"github.com/atollhq/atoll/vcs"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

const webTF = `
variable "size" {
  type    = string
  default = "small"
}

resource "terraform_data" "web" {
  input = var.size
}
`

// projectCheckout checks out a repo holding files and returns the runner and
// the checkout root.
func projectCheckout(t *testing.T, files map[string]string) (*Runner, *gitRepo, string) {
	t.Helper()
	g := newGitRepo(t, files)
	sha := g.git(g.work, "rev-parse", "HEAD")
	r := newTestRunner(t)
	return r, g, g.checkout(t, r, "main", sha)
}

// ignoreDigest leaves PlanSummary.ChangesDigest, a hash, out of comparisons;
// TestPlanChangesDigest tests it.
var ignoreDigest = cmpopts.IgnoreFields(PlanSummary{}, "ChangesDigest")

func planSteps() []config.Step  { return config.DefaultWorkflow().Plan }
func applySteps() []config.Step { return config.DefaultWorkflow().Apply }

func TestRunPlanThenApply(t *testing.T) {
	t.Parallel()
	r, g, dir := projectCheckout(t, map[string]string{"network/main.tf": webTF})
	planFile := r.PlanPath(g.repo(), 1, "network", "default")
	var log bytes.Buffer
	job := Job{Dir: dir, ProjectDir: "network", Steps: planSteps(), PlanFile: planFile, Log: &log}

	res, err := r.Run(context.Background(), job)
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	wantPlan := &PlanSummary{Add: 1, HasChanges: true, Resources: []ResourceChange{{Address: "terraform_data.web", Action: ActionCreate}}}
	if diff := cmp.Diff(wantPlan, res.Plan, ignoreDigest); diff != "" {
		t.Errorf("plan summary (-want +got):\n%s", diff)
	}
	for _, want := range []string{"terraform_data.web", "will be created", `"small"`} {
		if !strings.Contains(res.Output, want) {
			t.Errorf("plan output lacks %q:\n%s", want, res.Output)
		}
	}
	if strings.Contains(res.Output, "\x1b[") {
		t.Errorf("plan output has colour codes:\n%q", res.Output)
	}
	if strings.Contains(res.Output, "Initializing") {
		t.Errorf("plan output for the comment includes init's output:\n%s", res.Output)
	}
	if got := stepKinds(res.Steps); !cmp.Equal(got, []string{"init", "plan"}) {
		t.Errorf("steps = %v, want [init plan]", got)
	}
	if !strings.Contains(log.String(), "Terraform has been successfully initialized") || !strings.Contains(log.String(), "Plan: 1 to add") {
		t.Errorf("live log lacks init or plan output:\n%s", log.String())
	}
	if !strings.HasPrefix(planFile, r.dataDir) || strings.HasPrefix(planFile, dir) {
		t.Errorf("plan file %s should be under the data dir and outside the worktree", planFile)
	}
	if _, err := os.Stat(planFile); err != nil {
		t.Fatalf("plan file missing after plan: %v", err)
	}

	job.Steps = applySteps()
	res, err = r.Run(context.Background(), job)
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	if !strings.Contains(res.Output, "Apply complete! Resources: 1 added") {
		t.Errorf("apply output:\n%s", res.Output)
	}
	state := readFile(t, filepath.Join(dir, "network", "terraform.tfstate"))
	if !strings.Contains(state, `"terraform_data"`) || !strings.Contains(state, `"web"`) {
		t.Errorf("state after apply lacks terraform_data.web:\n%s", state)
	}
	if _, err := os.Stat(planFile); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("plan file still there after apply (stat err %v)", err)
	}

	// Applying again without a plan is refused.
	_, err = r.Run(context.Background(), job)
	var se *StepError
	if !errors.As(err, &se) || se.Step != "apply" || !strings.Contains(se.Err.Error(), "no plan") {
		t.Errorf("apply without plan: err = %v, want a StepError for apply saying there is no plan", err)
	}

	// A plan now has no changes.
	job.Steps = planSteps()
	res, err = r.Run(context.Background(), job)
	if err != nil {
		t.Fatalf("second plan: %v", err)
	}
	if diff := cmp.Diff(&PlanSummary{}, res.Plan, ignoreDigest); diff != "" {
		t.Errorf("second plan summary (-want +got):\n%s", diff)
	}
	if !strings.Contains(res.Output, "No changes") {
		t.Errorf("second plan output:\n%s", res.Output)
	}
}

func stepKinds(steps []StepResult) []string {
	var out []string
	for _, s := range steps {
		out = append(out, s.Kind)
	}
	return out
}

func TestRunWorkspaceAndExtraArgs(t *testing.T) {
	t.Parallel()
	r, g, dir := projectCheckout(t, map[string]string{"main.tf": webTF})
	planFile := r.PlanPath(g.repo(), 1, ".", "staging")
	job := Job{
		Dir: dir, ProjectDir: ".", Workspace: "staging", PlanFile: planFile,
		Steps: []config.Step{
			{Kind: config.StepInit},
			{Kind: config.StepPlan, ExtraArgs: []string{"-lock-timeout=5s"}},
			{Kind: config.StepShow},
		},
		ExtraArgs: []string{"-var", "size=large"},
	}
	res, err := r.Run(context.Background(), job)
	if err != nil {
		t.Fatalf("plan in staging: %v", err)
	}
	if got := strings.TrimSpace(readFile(t, filepath.Join(dir, ".terraform", "environment"))); got != "staging" {
		t.Errorf("selected workspace = %q, want staging", got)
	}
	if !strings.Contains(res.Output, `"large"`) {
		t.Errorf("plan did not use -var size=large:\n%s", res.Output)
	}
	if show := readFile(t, showFile(planFile)); !strings.Contains(show, `"resource_changes"`) {
		t.Errorf("show step wrote no plan JSON to %s:\n%.200s", showFile(planFile), show)
	}

	job.Steps = applySteps()
	job.ExtraArgs = nil
	if _, err := r.Run(context.Background(), job); err != nil {
		t.Fatalf("apply in staging: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "terraform.tfstate.d", "staging", "terraform.tfstate")); err != nil {
		t.Errorf("no staging state after apply: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "terraform.tfstate")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("default workspace state was written (stat err %v)", err)
	}

	// Back to default in the same directory: the workspace is switched back.
	job.Workspace = "default"
	job.PlanFile = r.PlanPath(g.repo(), 1, ".", "default")
	job.Steps = planSteps()
	res, err = r.Run(context.Background(), job)
	if err != nil {
		t.Fatalf("plan in default: %v", err)
	}
	if res.Plan.Add != 1 {
		t.Errorf("default workspace plan adds %d, want 1 (staging's state must not be used)", res.Plan.Add)
	}

	// A flag terraform-exec cannot express fails the plan step before it runs.
	job.ExtraArgs = []string{"-compact-warnings"}
	_, err = r.Run(context.Background(), job)
	var se *StepError
	if !errors.As(err, &se) || se.Step != "plan" || se.ExitCode != -1 || !strings.Contains(err.Error(), "-compact-warnings") {
		t.Errorf("unsupported flag: err = %v, want a plan StepError naming the flag", err)
	}
}

func TestRunTerraformFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		tf       string
		wantStep string
		wantText string
	}{
		{"syntax error", "resource \"terraform_data\" \"web\" {\n  input = \n", "init", "Invalid expression"},
		{"undeclared variable", "resource \"terraform_data\" \"web\" {\n  input = var.nope\n}\n", "plan", "Reference to undeclared input variable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, g, dir := projectCheckout(t, map[string]string{"main.tf": tt.tf})
			res, err := r.Run(context.Background(), Job{Dir: dir, ProjectDir: ".", Steps: planSteps(), PlanFile: r.PlanPath(g.repo(), 1, ".", "default")})
			var se *StepError
			if !errors.As(err, &se) {
				t.Fatalf("Run error = %v, want a *StepError", err)
			}
			if se.Step != tt.wantStep || se.ExitCode <= 0 {
				t.Errorf("StepError step %q exit %d, want step %q and a non-zero exit code", se.Step, se.ExitCode, tt.wantStep)
			}
			if !strings.Contains(se.Output, tt.wantText) {
				t.Errorf("StepError output lacks %q:\n%s", tt.wantText, se.Output)
			}
			if last := res.Steps[len(res.Steps)-1]; last.Kind != tt.wantStep || last.ExitCode != se.ExitCode {
				t.Errorf("last step result = %+v, want the failed %s step", last, tt.wantStep)
			}
		})
	}
}

func TestRunCustomSteps(t *testing.T) {
	t.Parallel()
	r, g, dir := projectCheckout(t, map[string]string{"app/main.tf": webTF})
	planFile := r.PlanPath(g.repo(), 1, "app", "default")
	job := Job{
		Dir: dir, ProjectDir: "app", PlanFile: planFile,
		Env: map[string]string{"PULL_NUM": "1", "PROJECT_NAME": "app"},
		Steps: []config.Step{
			{Kind: config.StepRun, Run: "echo visible-output"},
			{Kind: config.StepRun, Run: "echo hidden-output", Output: OutputHide},
			{Kind: config.StepRun, Run: "echo 'x.y: Refreshing state... [id=1]'; echo kept-line", Output: OutputStripRefreshing},
			{Kind: config.StepEnv, EnvName: "FIXED", EnvValue: "fixed-value"},
			{Kind: config.StepEnv, EnvName: "COMPUTED", Run: "echo \"  computed-$FIXED  \""},
			{Kind: config.StepMultiEnv, Run: "echo 'ONE=1,TWO=a,b'"},
			{Kind: config.StepMultiEnv, Run: "printf 'THREE=3\\nFOUR=x=y\\n'"},
			{Kind: config.StepRun, Run: `echo "env:$FIXED|$COMPUTED|$ONE|$TWO|$THREE|$FOUR|$PULL_NUM|$PROJECT_NAME|$WORKSPACE"; echo "dir:$DIR"; echo "plan:$PLANFILE"; echo "show:$SHOWFILE"; echo "pwd:$(pwd -P)"`},
		},
	}
	res, err := r.Run(context.Background(), job)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	realApp, _ := filepath.EvalSymlinks(filepath.Join(dir, "app"))
	want := "visible-output\n\nkept-line\n\n" +
		"env:fixed-value|computed-fixed-value|1|a,b|3|x=y|1|app|default\n" +
		"dir:" + realApp + "\n" +
		"plan:" + planFile + "\n" +
		"show:" + strings.TrimSuffix(planFile, ".tfplan") + ".json\n" +
		"pwd:" + realApp + "\n"
	if diff := cmp.Diff(want, res.Output); diff != "" {
		t.Errorf("Output (-want +got):\n%s", diff)
	}
	if res.Steps[1].Output != "hidden-output\n" {
		t.Errorf("hidden step's own output = %q, want it kept in the step result", res.Steps[1].Output)
	}
	if res.Plan != nil {
		t.Errorf("Plan = %+v for a job without a plan step", res.Plan)
	}

	// A failing run step stops the job with its exit code and output.
	job.Steps = []config.Step{
		{Kind: config.StepRun, Run: "echo before"},
		{Kind: config.StepRun, Run: "echo oops >&2; exit 3"},
		{Kind: config.StepRun, Run: "echo never"},
	}
	res, err = r.Run(context.Background(), job)
	var se *StepError
	if !errors.As(err, &se) || se.Step != "run" || se.ExitCode != 3 || se.Output != "oops\n" {
		t.Fatalf("failing run step: err = %#v, want run StepError exit 3 output oops", err)
	}
	if len(res.Steps) != 2 || res.Output != "before\n" {
		t.Errorf("result after failure: %d steps, output %q; want 2 steps and the first step's output", len(res.Steps), res.Output)
	}
}

// TestRunFilterRegex: a run step's filter_regex replaces what it matches in
// the step's output, its section of the comment and the live log.
func TestRunFilterRegex(t *testing.T) {
	t.Parallel()
	r, g, dir := projectCheckout(t, map[string]string{"app/main.tf": webTF})
	var live bytes.Buffer
	job := Job{
		Dir: dir, ProjectDir: "app", PlanFile: r.PlanPath(g.repo(), 1, "app", "default"), Log: &live,
		Steps: []config.Step{
			{Kind: config.StepRun, Run: `echo 'secret: "hunter2" and token=abc123'; echo plain`,
				FilterRegex: []string{`((?i)secret:\s")[^"]*`, `token=\w+`}},
			{Kind: config.StepRun, Run: "echo token=zzz; exit 2", FilterRegex: []string{`token=\w+`}},
		},
	}
	res, err := r.Run(context.Background(), job)
	var se *StepError
	if !errors.As(err, &se) || se.Output != "<redacted>\n" {
		t.Fatalf("failing filtered step: err = %#v, want its output redacted", err)
	}
	want := "<redacted>\" and <redacted>\nplain\n"
	if res.Output != want || res.Steps[0].Output != want {
		t.Errorf("Output = %q, step output = %q, want %q", res.Output, res.Steps[0].Output, want)
	}
	for _, secret := range []string{"hunter2", "abc123", "zzz"} {
		if strings.Contains(live.String(), secret) {
			t.Errorf("live log has %q:\n%s", secret, live.String())
		}
	}
	if !strings.Contains(live.String(), want) {
		t.Errorf("live log lacks the filtered output %q:\n%s", want, live.String())
	}
}

func TestRunRejectsProjectDirs(t *testing.T) {
	t.Parallel()
	r, _, dir := projectCheckout(t, map[string]string{"ok/main.tf": webTF})
	outside := t.TempDir()
	if err := os.Symlink(outside, filepath.Join(dir, "escape")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("..", filepath.Join(dir, "ok", "up")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("ok", filepath.Join(dir, "inside")); err != nil {
		t.Fatal(err)
	}
	steps := []config.Step{{Kind: config.StepRun, Run: "pwd"}}
	tests := []struct {
		projectDir, workspace string
		want                  string // "" for success
	}{
		{"ok", "default", ""},
		{"inside", "default", ""},
		{"ok/up", "default", ""},
		{"..", "default", "clean relative path"},
		{"../x", "default", "clean relative path"},
		{"ok/../ok", "default", "clean relative path"},
		{"/etc", "default", "clean relative path"},
		{"", "default", "clean relative path"},
		{"escape", "default", "outside the repository"},
		{"ok/up/escape", "default", "outside the repository"},
		{"missing", "default", "does not exist"},
		{"ok/main.tf", "default", "not a directory"},
		{"ok", "a/b", "workspace name"},
		{"ok", "has space", "workspace name"},
		{"ok", "-x", "workspace name"},
	}
	for _, tt := range tests {
		_, err := r.Run(context.Background(), Job{Dir: dir, ProjectDir: tt.projectDir, Workspace: tt.workspace, Steps: steps})
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("Run(%q, %q): %v", tt.projectDir, tt.workspace, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("Run(%q, %q) error = %v, want one mentioning %q", tt.projectDir, tt.workspace, err, tt.want)
		}
	}
}

func TestTerraformBinary(t *testing.T) {
	t.Parallel()
	binDir := t.TempDir()
	for _, name := range []string{"terraform1.4.6", "terraform_1.6.0", "terraform1.7.0"} {
		if err := os.WriteFile(filepath.Join(binDir, name), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(binDir, "terraform1.7.0"), 0o644); err != nil {
		t.Fatal(err)
	}
	def := testenv.Terraform(t)
	r, err := New(Config{DataDir: t.TempDir(), Terraform: def, BinDir: binDir, DefaultVersion: "1.5.7", Env: testenv.TerraformEnv(t)})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		version, want, wantErr string
	}{
		{"", def, ""},
		{"1.5.7", def, ""},
		{"v1.5.7", def, ""},
		{"1.4.6", filepath.Join(binDir, "terraform1.4.6"), ""},
		{"1.6.0", filepath.Join(binDir, "terraform_1.6.0"), ""},
		{"1.4.0", "", "terraform 1.4.0 is not installed and downloads are turned off (--tf-download=false): put it at " + filepath.Join(binDir, "terraform1.4.0")},
		{"1.7.0", "", "not installed"}, // not executable
		{"1.4.6; rm -rf /", "", "not a version"},
		{"../../bin/sh", "", "not a version"},
		// Without downloads, a constraint chooses among installed versions.
		{">= 1.5", filepath.Join(binDir, "terraform_1.6.0"), ""},
		{"~> 1.5.0", def, ""},
		// None satisfies it: the default binary, which checks required_version itself.
		{"< 1.4", def, ""},
	}
	for _, tt := range tests {
		got, err := r.TerraformBinary(tt.version)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("TerraformBinary(%q) = %q, %v; want error %q", tt.version, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("TerraformBinary(%q) = %q, %v; want %q", tt.version, got, err, tt.want)
		}
	}

	// The default binary is looked up on Config.Env's PATH, not the process's.
	r2, err := New(Config{DataDir: t.TempDir(), Env: []string{"PATH=" + filepath.Dir(def) + ":/usr/bin:/bin"}})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := r2.TerraformBinary(""); err != nil || got != filepath.Join(filepath.Dir(def), "terraform") {
		t.Errorf("default from PATH = %q, %v", got, err)
	}
}

func TestPlanPath(t *testing.T) {
	t.Parallel()
	r := &Runner{dataDir: "/data"}
	repo := vcs.Repo{Host: "github.com", Owner: "acme", Name: "infra"}
	tests := []struct {
		dir, workspace, want string
	}{
		{".", "default", "/data/plans/github.com/acme/infra/4/%2E/default.tfplan"},
		{"network", "default", "/data/plans/github.com/acme/infra/4/network/default.tfplan"},
		{"envs/prod/net", "staging", "/data/plans/github.com/acme/infra/4/envs%2Fprod%2Fnet/staging.tfplan"},
		{"a%2Fb", "x", "/data/plans/github.com/acme/infra/4/a%252Fb/x.tfplan"},
		{"..", "..", "/data/plans/github.com/acme/infra/4/%2E%2E/%2E%2E.tfplan"},
	}
	for _, tt := range tests {
		if got := r.PlanPath(repo, 4, tt.dir, tt.workspace); got != tt.want {
			t.Errorf("PlanPath(%q, %q) = %q, want %q", tt.dir, tt.workspace, got, tt.want)
		}
	}
}

// Jobs for several workspaces of one directory may be started at once (one
// per workspace); the runner serializes them so each plans its own workspace.
func TestRunConcurrentWorkspaces(t *testing.T) {
	t.Parallel()
	r, g, dir := projectCheckout(t, map[string]string{"main.tf": `resource "terraform_data" "ws" {
  input = "ws-${terraform.workspace}"
}
`})
	workspaces := []string{"default", "staging", "prod"}
	outputs := make([]string, len(workspaces))
	errs := make([]error, len(workspaces))
	var wg sync.WaitGroup
	for i, ws := range workspaces {
		wg.Go(func() {
			res, err := r.Run(context.Background(), Job{
				Dir: dir, ProjectDir: ".", Workspace: ws, Steps: planSteps(),
				PlanFile: r.PlanPath(g.repo(), 1, ".", ws),
			})
			outputs[i], errs[i] = res.Output, err
		})
	}
	wg.Wait()
	for i, ws := range workspaces {
		if errs[i] != nil {
			t.Errorf("plan %s: %v", ws, errs[i])
			continue
		}
		for _, other := range workspaces {
			if has := strings.Contains(outputs[i], `"ws-`+other+`"`); has != (other == ws) {
				t.Errorf("plan of %s mentions ws-%s: %v\n%s", ws, other, has, outputs[i])
			}
		}
	}
}
