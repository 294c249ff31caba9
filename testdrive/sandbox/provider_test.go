package sandbox_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	tfjson "github.com/hashicorp/terraform-json"

	"github.com/atollhq/atoll/internal/testenv"
	"github.com/atollhq/atoll/testdrive/sandbox"
)

// The provider binary is built once per test binary and shared by the tests.
var (
	buildOnce sync.Once
	buildDir  string // removed by TestMain
	buildBin  string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// providerBinary builds cmd/terraform-provider-sandbox with the real go tool.
func providerBinary(t *testing.T) string {
	t.Helper()
	root := testenv.ModuleRoot(t)
	buildOnce.Do(func() {
		goTool, err := exec.LookPath("go")
		if err != nil {
			buildErr = fmt.Errorf("go not found on PATH (needed to build the provider): %w", err)
			return
		}
		if buildDir, err = os.MkdirTemp("", "sandbox-provider-"); err != nil {
			buildErr = err
			return
		}
		buildBin = filepath.Join(buildDir, "terraform-provider-sandbox")
		cmd := exec.Command(goTool, "build", "-o", buildBin, "./cmd/terraform-provider-sandbox")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/terraform-provider-sandbox: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildBin
}

// workspace is one terraform working directory wired to the sandbox provider
// through a filesystem mirror, with its own cloud file.
type workspace struct {
	tf    string
	dir   string
	cloud string
	env   []string
}

// newWorkspace installs the provider into a mirror, writes a CLI config for it
// and a main.tf of the given resources (after the terraform and provider blocks).
func newWorkspace(t *testing.T, resources string) *workspace {
	t.Helper()
	tmp := t.TempDir()
	mirror := filepath.Join(tmp, "mirror")
	if err := sandbox.InstallMirror(providerBinary(t), mirror); err != nil {
		t.Fatal(err)
	}
	rc := filepath.Join(tmp, "terraformrc")
	if err := os.WriteFile(rc, []byte(sandbox.CLIConfig(mirror)), 0o644); err != nil {
		t.Fatal(err)
	}
	w := &workspace{
		tf:    testenv.Terraform(t),
		dir:   filepath.Join(tmp, "work"),
		cloud: filepath.Join(tmp, "cloud.json"),
		// A later duplicate wins in os/exec, so this overrides TerraformEnv's config.
		env: append(testenv.TerraformEnv(t), "TF_CLI_CONFIG_FILE="+rc),
	}
	if err := os.Mkdir(w.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	mainTF := fmt.Sprintf(`terraform {
  required_providers {
    sandbox = {
      source  = "atoll/sandbox"
      version = "0.1.0"
    }
  }
}

provider "sandbox" {
  cloud = %q
}
%s`, w.cloud, resources)
	if err := os.WriteFile(filepath.Join(w.dir, "main.tf"), []byte(mainTF), 0o644); err != nil {
		t.Fatal(err)
	}
	return w
}

// run runs terraform with args and returns stdout and the exit code; any exit
// code not in okCodes fails the test.
func (w *workspace) run(t *testing.T, okCodes []int, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(w.tf, args...)
	cmd.Dir = w.dir
	cmd.Env = w.env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		code = exitErr.ExitCode()
	} else if err != nil {
		t.Fatalf("terraform %s: %v", strings.Join(args, " "), err)
	}
	for _, ok := range okCodes {
		if code == ok {
			return stdout.String(), code
		}
	}
	t.Fatalf("terraform %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, stdout.String(), stderr.String())
	return "", code
}

// tfOK runs terraform and requires success.
func (w *workspace) tfOK(t *testing.T, args ...string) string {
	t.Helper()
	out, _ := w.run(t, []int{0}, args...)
	return out
}

// plan saves a plan and returns it as terraform show -json parses it.
func (w *workspace) plan(t *testing.T) *tfjson.Plan {
	t.Helper()
	w.tfOK(t, "plan", "-input=false", "-no-color", "-out", "p")
	js := w.tfOK(t, "show", "-json", "p")
	var p tfjson.Plan
	if err := json.Unmarshal([]byte(js), &p); err != nil {
		t.Fatalf("parse plan JSON: %v\n%s", err, js)
	}
	return &p
}

// servers returns the cloud file's servers.
func (w *workspace) servers(t *testing.T) map[string]sandbox.Server {
	t.Helper()
	s, err := sandbox.Servers(w.cloud)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// change is the part of a resource change the tests compare.
type change struct {
	Address string
	Actions tfjson.Actions
	Before  map[string]any
	After   map[string]any
}

func changes(rcs []*tfjson.ResourceChange) []change {
	var out []change
	for _, rc := range rcs {
		c := change{Address: rc.Address, Actions: rc.Change.Actions}
		c.Before, _ = rc.Change.Before.(map[string]any)
		c.After, _ = rc.Change.After.(map[string]any)
		out = append(out, c)
	}
	return out
}

// TestProviderDrift is the drift story end to end with real terraform: install
// offline from the mirror, create, no-op plan, a change "in the console" shows
// as resource_drift plus an update restoring the config, and a server deleted
// in the console is planned for creation again.
func TestProviderDrift(t *testing.T) {
	t.Parallel()
	w := newWorkspace(t, `
resource "sandbox_server" "web" {
  name = "web"
  size = "small"
}
`)
	step := func(name string, fn func(t *testing.T)) {
		if !t.Run(name, fn) {
			t.FailNow() // later steps build on this one
		}
	}

	step("init from the mirror", func(t *testing.T) {
		out := w.tfOK(t, "init", "-input=false", "-no-color")
		if !strings.Contains(out, "Installing atoll/sandbox v0.1.0") {
			t.Errorf("init output does not show the sandbox install:\n%s", out)
		}
		lock, err := os.ReadFile(filepath.Join(w.dir, ".terraform.lock.hcl"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(lock), `provider "registry.terraform.io/atoll/sandbox"`) {
			t.Errorf("lock file does not pin the sandbox provider:\n%s", lock)
		}
	})

	step("apply creates the server", func(t *testing.T) {
		w.tfOK(t, "apply", "-input=false", "-no-color", "-auto-approve")
		want := map[string]sandbox.Server{"web": {ID: "srv-1", Name: "web", Size: "small"}}
		if diff := cmp.Diff(want, w.servers(t)); diff != "" {
			t.Errorf("cloud after apply (-want +got):\n%s", diff)
		}
	})

	step("second plan has no changes", func(t *testing.T) {
		if _, code := w.run(t, []int{0, 2}, "plan", "-input=false", "-no-color", "-detailed-exitcode"); code != 0 {
			t.Errorf("plan after apply: exit %d, want 0 (no changes)", code)
		}
	})

	step("resize in the console shows as drift", func(t *testing.T) {
		if err := sandbox.SetAttribute(w.cloud, "web", "size", "large"); err != nil {
			t.Fatal(err)
		}
		p := w.plan(t)
		server := func(size string) map[string]any {
			return map[string]any{"id": "srv-1", "name": "web", "size": size, "tags": nil}
		}
		wantDrift := []change{{Address: "sandbox_server.web", Actions: tfjson.Actions{tfjson.ActionUpdate}, Before: server("small"), After: server("large")}}
		if diff := cmp.Diff(wantDrift, changes(p.ResourceDrift)); diff != "" {
			t.Errorf("resource_drift (-want +got):\n%s", diff)
		}
		wantChanges := []change{{Address: "sandbox_server.web", Actions: tfjson.Actions{tfjson.ActionUpdate}, Before: server("large"), After: server("small")}}
		if diff := cmp.Diff(wantChanges, changes(p.ResourceChanges)); diff != "" {
			t.Errorf("resource_changes (-want +got):\n%s", diff)
		}
	})

	step("applying the plan restores the cloud", func(t *testing.T) {
		w.tfOK(t, "apply", "-input=false", "-no-color", "p")
		want := map[string]sandbox.Server{"web": {ID: "srv-1", Name: "web", Size: "small"}}
		if diff := cmp.Diff(want, w.servers(t)); diff != "" {
			t.Errorf("cloud after apply (-want +got):\n%s", diff)
		}
	})

	step("delete in the console plans a create", func(t *testing.T) {
		if err := sandbox.RemoveServer(w.cloud, "web"); err != nil {
			t.Fatal(err)
		}
		p := w.plan(t)
		var got []string
		for _, c := range changes(p.ResourceChanges) {
			got = append(got, fmt.Sprintf("%s %v", c.Address, c.Actions))
		}
		if diff := cmp.Diff([]string{"sandbox_server.web [create]"}, got); diff != "" {
			t.Errorf("resource_changes (-want +got):\n%s", diff)
		}
		var drift []string
		for _, c := range changes(p.ResourceDrift) {
			drift = append(drift, fmt.Sprintf("%s %v", c.Address, c.Actions))
		}
		if diff := cmp.Diff([]string{"sandbox_server.web [delete]"}, drift); diff != "" {
			t.Errorf("resource_drift (-want +got):\n%s", diff)
		}
		w.tfOK(t, "apply", "-input=false", "-no-color", "p")
		want := map[string]sandbox.Server{"web": {ID: "srv-2", Name: "web", Size: "small"}}
		if diff := cmp.Diff(want, w.servers(t)); diff != "" {
			t.Errorf("cloud after re-create (-want +got):\n%s", diff)
		}
	})

	step("destroy empties the cloud", func(t *testing.T) {
		w.tfOK(t, "destroy", "-input=false", "-no-color", "-auto-approve")
		if got := w.servers(t); len(got) != 0 {
			t.Errorf("cloud after destroy = %v, want empty", got)
		}
	})
}

// TestProviderTagsAndParallelCreate checks that tags round-trip (absent, empty
// and set stay distinct, so there is no perpetual diff), that a tag changed in
// the console is drift, and that terraform creating many servers at once
// through one provider loses none of them.
func TestProviderTagsAndParallelCreate(t *testing.T) {
	t.Parallel()
	const n = 8
	w := newWorkspace(t, fmt.Sprintf(`
resource "sandbox_server" "tagged" {
  name = "tagged"
  size = "small"
  tags = { team = "web", env = "prod" }
}

resource "sandbox_server" "empty_tags" {
  name = "empty-tags"
  size = "small"
  tags = {}
}

resource "sandbox_server" "fleet" {
  count = %d
  name  = "fleet-${count.index}"
  size  = "tiny"
}
`, n))
	w.tfOK(t, "init", "-input=false", "-no-color")
	w.tfOK(t, "apply", "-input=false", "-no-color", "-auto-approve", "-parallelism=10")

	got := w.servers(t)
	if len(got) != n+2 {
		t.Fatalf("cloud has %d servers, want %d: %v", len(got), n+2, got)
	}
	ids := map[string]bool{}
	for _, s := range got {
		if ids[s.ID] {
			t.Errorf("id %s used twice", s.ID)
		}
		ids[s.ID] = true
	}
	if diff := cmp.Diff(map[string]string{"team": "web", "env": "prod"}, got["tagged"].Tags); diff != "" {
		t.Errorf("tags of tagged (-want +got):\n%s", diff)
	}
	if tags := got["empty-tags"].Tags; tags == nil || len(tags) != 0 {
		t.Errorf("tags of empty-tags = %#v, want an empty, non-nil map", tags)
	}
	if tags := got["fleet-0"].Tags; tags != nil {
		t.Errorf("tags of fleet-0 = %#v, want nil (no tags attribute)", tags)
	}

	if _, code := w.run(t, []int{0, 2}, "plan", "-input=false", "-no-color", "-detailed-exitcode"); code != 0 {
		t.Fatalf("plan after apply: exit %d, want 0 (no changes)", code)
	}

	if err := sandbox.SetAttribute(w.cloud, "tagged", "tags.env", "staging"); err != nil {
		t.Fatal(err)
	}
	p := w.plan(t)
	if len(p.ResourceDrift) != 1 || p.ResourceDrift[0].Address != "sandbox_server.tagged" {
		t.Fatalf("resource_drift = %v, want only sandbox_server.tagged", changes(p.ResourceDrift))
	}
	after, _ := p.ResourceDrift[0].Change.After.(map[string]any)
	if diff := cmp.Diff(map[string]any{"team": "web", "env": "staging"}, after["tags"]); diff != "" {
		t.Errorf("drifted tags (-want +got):\n%s", diff)
	}
}
