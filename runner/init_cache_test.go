package runner

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/atollhq/atoll/internal/testenv"
	"github.com/atollhq/atoll/testdrive/sandbox"
)

// countingTerraform returns a terraform wrapper that logs each command's first
// argument to the returned file.
func countingTerraform(t *testing.T) (bin, calls string) {
	t.Helper()
	calls = filepath.Join(t.TempDir(), "calls")
	bin = filepath.Join(t.TempDir(), "terraform")
	script := "#!/bin/sh\necho \"$1\" >> " + calls + "\nexec " + testenv.Terraform(t) + " \"$@\"\n"
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin, calls
}

func countCalls(t *testing.T, calls, cmd string) int {
	t.Helper()
	b, err := os.ReadFile(calls)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	n := 0
	for _, f := range strings.Fields(string(b)) {
		if f == cmd {
			n++
		}
	}
	return n
}

// TestInitSkippedWhenUnchanged: after a push, init runs again only when
// something it depends on changed (a module block, the backend), not for an
// unrelated edit; a push that commits a .terraform makes Atoll init again.
func TestInitSkippedWhenUnchanged(t *testing.T) {
	t.Parallel()
	const mod = "resource \"terraform_data\" \"m\" {\n  input = \"m\"\n}\n"
	g := newGitRepo(t, map[string]string{"net/main.tf": webTF, "net/m/main.tf": mod, "net/m2/main.tf": mod})
	r := newTestRunner(t)
	tfBin, calls := countingTerraform(t)

	steps := []struct {
		name     string
		files    map[string]string
		wantInit bool
	}{
		{"first plan", nil, true},
		{"re-plan, nothing changed", nil, false},
		{"unrelated edit", map[string]string{"net/main.tf": strings.Replace(webTF, `"small"`, `"large"`, 1)}, false},
		{"module added", map[string]string{"net/mods.tf": "module \"m\" {\n  source = \"./m\"\n}\n"}, true},
		{"edit inside the local module, no module blocks", map[string]string{"net/m/main.tf": mod + "# comment\n"}, false},
		{"module source changed", map[string]string{"net/mods.tf": "module \"m\" {\n  source = \"./m2\"\n}\n"}, true},
		{"backend added", map[string]string{"net/backend.tf": "terraform {\n  backend \"local\" {\n    path = \"x.tfstate\"\n  }\n}\n"}, true},
		{"backend changed", map[string]string{"net/backend.tf": "terraform {\n  backend \"local\" {\n    path = \"y.tfstate\"\n  }\n}\n"}, true},
		{"another unrelated edit", map[string]string{"net/main.tf": webTF}, false},
		{"a committed .terraform is not trusted", map[string]string{"net/.terraform/atoll-init": "guess"}, true},
	}
	for i, s := range steps {
		sha := g.git(g.work, "rev-parse", "HEAD")
		if s.files != nil {
			sha = g.commit("main", s.files)
		}
		dir := g.checkout(t, r, "main", sha)
		before := countCalls(t, calls, "init")
		job := Job{Dir: dir, ProjectDir: "net", Steps: planSteps(), Terraform: tfBin,
			PlanFile: r.PlanPath(g.repo(), 1, "net", "default")}
		res, err := r.Run(context.Background(), job)
		if err != nil {
			t.Fatalf("step %d (%s): %v", i, s.name, err)
		}
		if res.Plan == nil || !res.Plan.HasChanges {
			t.Fatalf("step %d (%s): plan = %+v", i, s.name, res.Plan)
		}
		if got := countCalls(t, calls, "init") > before; got != s.wantInit {
			t.Errorf("step %d (%s): init ran = %v, want %v", i, s.name, got, s.wantInit)
		}
	}
}

// TestInitAgainAfterWorkspaceChange: another workspace of the same directory
// is a different key.
func TestInitAgainAfterWorkspaceChange(t *testing.T) {
	t.Parallel()
	r, g, dir := projectCheckout(t, map[string]string{"main.tf": webTF})
	tfBin, calls := countingTerraform(t)
	for i, ws := range []string{"default", "default", "staging", "staging", "default"} {
		job := Job{Dir: dir, ProjectDir: ".", Workspace: ws, Steps: planSteps(), Terraform: tfBin,
			PlanFile: r.PlanPath(g.repo(), 1, ".", ws)}
		if _, err := r.Run(context.Background(), job); err != nil {
			t.Fatalf("run %d (%s): %v", i, ws, err)
		}
	}
	if n := countCalls(t, calls, "init"); n != 3 {
		t.Errorf("init ran %d times, want 3 (default, staging, default again)", n)
	}
}

var (
	sandboxOnce sync.Once
	sandboxBin  string
	sandboxErr  error
)

// sandboxCLIConfig builds the sandbox provider once and returns a CLI config
// file that installs it from a filesystem mirror.
func sandboxCLIConfig(t *testing.T) string {
	t.Helper()
	sandboxOnce.Do(func() {
		dir, err := os.MkdirTemp("", "atoll-runner-provider-")
		if err != nil {
			sandboxErr = err
			return
		}
		sandboxBin = filepath.Join(dir, "terraform-provider-sandbox")
		if out, err := exec.Command("go", "build", "-o", sandboxBin, "../cmd/terraform-provider-sandbox").CombinedOutput(); err != nil {
			sandboxErr = fmt.Errorf("go build the sandbox provider: %v\n%s", err, out)
		}
	})
	if sandboxErr != nil {
		t.Fatal(sandboxErr)
	}
	mirror := filepath.Join(t.TempDir(), "mirror")
	if err := sandbox.InstallMirror(sandboxBin, mirror); err != nil {
		t.Fatal(err)
	}
	rc := filepath.Join(t.TempDir(), "terraformrc")
	if err := os.WriteFile(rc, []byte(sandbox.CLIConfig(mirror)), 0o644); err != nil {
		t.Fatal(err)
	}
	return rc
}

const sandboxTF = `
terraform {
  required_providers {
    sandbox = { source = "atoll/sandbox" }
  }
}
provider "sandbox" {
  cloud = "cloud.json"
}
`

// TestPluginCacheParallelPlans: plans of several pull requests that use the
// same provider run at once against the shared plugin cache under the data
// dir; all succeed and the cache holds the provider.
func TestPluginCacheParallelPlans(t *testing.T) {
	t.Parallel()
	rc := sandboxCLIConfig(t)
	g := newGitRepo(t, map[string]string{"main.tf": sandboxTF})
	sha := g.git(g.work, "rev-parse", "HEAD")
	r := newRunnerWith(t, Config{Env: append(testenv.TerraformEnv(t), "TF_CLI_CONFIG_FILE="+rc)})
	const pulls = 4
	var wg sync.WaitGroup
	errs := make([]error, pulls)
	for i := range pulls {
		dir, err := r.Checkout(context.Background(), Checkout{
			BaseRepo: g.repo(), HeadCloneURL: g.url(), HeadBranch: "main", HeadSHA: sha, Pull: i + 1})
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = r.Run(context.Background(), Job{Dir: dir, ProjectDir: ".", Steps: planSteps(),
				PlanFile: r.PlanPath(g.repo(), i+1, ".", "default")})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			var se *StepError
			if ok := asStepError(err, &se); ok {
				t.Errorf("pull %d: %v\n%s", i+1, err, se.Output)
			} else {
				t.Errorf("pull %d: %v", i+1, err)
			}
		}
	}
	cached, _ := filepath.Glob(filepath.Join(r.dataDir, "plugin-cache", "registry.terraform.io", "atoll", "sandbox", "*", "*", "terraform-provider-sandbox*"))
	if len(cached) != 1 {
		t.Errorf("plugin cache holds %v, want the one sandbox provider", cached)
	}
}

// TestPluginCacheUserSetting: a user's TF_PLUGIN_CACHE_DIR or plugin_cache_dir
// in the CLI config is kept; only without either does Atoll use its own.
func TestPluginCacheUserSetting(t *testing.T) {
	t.Parallel()
	r := newTestRunner(t)
	rc := filepath.Join(t.TempDir(), "rc")
	if err := os.WriteFile(rc, []byte("plugin_cache_dir = \"/var/cache/tf\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		env     map[string]string
		want    string
		wantOwn bool
	}{
		{map[string]string{"TF_PLUGIN_CACHE_DIR": "/mine"}, "/mine", false},
		{map[string]string{"TF_CLI_CONFIG_FILE": rc}, "/var/cache/tf", false},
		{map[string]string{"TF_CLI_CONFIG_FILE": rc + ".missing"}, filepath.Join(r.dataDir, "plugin-cache"), true},
	}
	for _, tt := range tests {
		got, own := r.pluginCache(tt.env)
		if got != tt.want || own != tt.wantOwn {
			t.Errorf("pluginCache(%v) = %q, %v; want %q, %v", tt.env, got, own, tt.want, tt.wantOwn)
		}
	}
}

func asStepError(err error, target **StepError) bool {
	se, ok := err.(*StepError)
	if ok {
		*target = se
	}
	return ok
}

// TestInitGeneratedLockFile: in a repository that commits no lock file, the
// one init writes survives a push, so the re-plan skips init and still
// plans; when required_providers change, init runs again with a fresh one.
func TestInitGeneratedLockFile(t *testing.T) {
	t.Parallel()
	rc := sandboxCLIConfig(t)
	g := newGitRepo(t, map[string]string{"main.tf": sandboxTF})
	r := newRunnerWith(t, Config{Env: append(testenv.TerraformEnv(t), "TF_CLI_CONFIG_FILE="+rc)})
	tfBin, calls := countingTerraform(t)
	steps := []struct {
		name     string
		files    map[string]string
		wantInit bool
	}{
		{"first plan", nil, true},
		{"unrelated push", map[string]string{"extra.tf": "resource \"terraform_data\" \"x\" {}\n"}, false},
		{"provider constraint changed", map[string]string{"main.tf": strings.Replace(sandboxTF, `source = "atoll/sandbox"`, `source = "atoll/sandbox", version = ">= 0.1.0"`, 1)}, true},
		{"another unrelated push", map[string]string{"extra.tf": "resource \"terraform_data\" \"y\" {}\n"}, false},
	}
	for i, s := range steps {
		sha := g.git(g.work, "rev-parse", "HEAD")
		if s.files != nil {
			sha = g.commit("main", s.files)
		}
		dir := g.checkout(t, r, "main", sha)
		before := countCalls(t, calls, "init")
		_, err := r.Run(context.Background(), Job{Dir: dir, ProjectDir: ".", Steps: planSteps(), Terraform: tfBin,
			PlanFile: r.PlanPath(g.repo(), 1, ".", "default")})
		if err != nil {
			var se *StepError
			if asStepError(err, &se) {
				t.Fatalf("step %d (%s): %v\n%s", i, s.name, err, se.Output)
			}
			t.Fatalf("step %d (%s): %v", i, s.name, err)
		}
		if got := countCalls(t, calls, "init") > before; got != s.wantInit {
			t.Errorf("step %d (%s): init ran = %v, want %v", i, s.name, got, s.wantInit)
		}
		if _, err := os.Stat(filepath.Join(dir, lockFileName)); err != nil {
			t.Errorf("step %d (%s): no lock file after the plan: %v", i, s.name, err)
		}
	}
}
