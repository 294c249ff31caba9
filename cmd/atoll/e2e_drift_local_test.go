package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/atollhq/atoll/testdrive/sandbox"
)

// `atoll drift DIR` checks a local checkout with no GitHub and no server
// flags: exit 0 in sync, 2 with drift (a resource changed outside Terraform,
// or a change in Git not applied, each named), 1 when a check fails, with
// terraform's output; DIR itself is left untouched.
func TestE2ELocalDrift(t *testing.T) {
	t.Parallel()
	env := append(execCommand(t, "true").Env, sandboxEnv(t)...)
	dir, state := t.TempDir(), t.TempDir()
	cloud := filepath.Join(state, "cloud.json")
	mainTF := fmt.Sprintf(`terraform {
  backend "local" {
    path = %q
  }
  required_providers {
    sandbox = { source = "atoll/sandbox", version = "0.1.0" }
  }
}

provider "sandbox" {
  cloud = %q
}

resource "sandbox_server" "web" {
  name = "web"
  size = "small"
}
`, filepath.Join(state, "infra.tfstate"), cloud)
	write := func(rel, body string) {
		t.Helper()
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("infra/main.tf", mainTF)
	write("README.md", "# infra\n")
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	git("init", "-q", "-b", "main")
	git("remote", "add", "origin", "git@github.com:acme/infra.git")
	git("add", ".")
	git("commit", "-q", "-m", "web")
	// Applied by hand, as a team would before adopting Atoll.
	for _, args := range [][]string{{"init", "-input=false"}, {"apply", "-auto-approve", "-input=false"}} {
		cmd := exec.Command(terraformPath(t), args...)
		cmd.Dir, cmd.Env = filepath.Join(dir, "infra"), env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("terraform %v: %v\n%s", args, err, out)
		}
	}
	drift := func(args ...string) (int, string) {
		t.Helper()
		cmd := exec.Command(atollBinary(t), append(append([]string{"drift", "--tf-binary", terraformPath(t)}, args...), dir)...)
		cmd.Env = append(env, "ATOLL_GH_TOKEN="+e2eToken)
		out, err := cmd.CombinedOutput()
		t.Logf("atoll drift %s:\n%s", strings.Join(args, " "), out)
		var exit *exec.ExitError
		switch {
		case err == nil:
			return 0, string(out)
		case errors.As(err, &exit):
			return exit.ExitCode(), string(out)
		}
		t.Fatalf("atoll drift: %v\n%s", err, out)
		return 0, ""
	}

	code, out := drift()
	if code != 0 || !strings.Contains(out, "infra") || !strings.Contains(out, "in sync") {
		t.Fatalf("atoll drift in sync = exit %d, want 0 and the project in sync:\n%s", code, out)
	}

	// Someone resizes the server in the console, and a second server is
	// added in Git but not applied.
	if err := sandbox.SetAttribute(cloud, "web", "size", "large"); err != nil {
		t.Fatal(err)
	}
	write("infra/api.tf", "resource \"sandbox_server\" \"api\" {\n  name = \"api\"\n  size = \"small\"\n}\n")
	code, out = drift()
	for _, want := range []string{"DRIFTED: 1 changed outside Terraform, 1 in Git but not applied",
		"changed outside Terraform: sandbox_server.web (update)", `size: "small" in Git, "large" in reality`,
		"in Git but not applied:   sandbox_server.api (create)"} {
		if !strings.Contains(out, want) {
			t.Errorf("atoll drift output lacks %q:\n%s", want, out)
		}
	}
	if code != 2 {
		t.Errorf("atoll drift with drift = exit %d, want 2:\n%s", code, out)
	}
	code, out = drift("--json")
	var rs []localDriftResult
	if err := json.Unmarshal([]byte(out), &rs); err != nil || code != 2 {
		t.Fatalf("atoll drift --json = exit %d, %v:\n%s", code, err, out)
	}
	if len(rs) != 1 || rs[0].Status != "drifted" || len(rs[0].Drifted) != 1 || rs[0].Drifted[0].Address != "sandbox_server.web" ||
		len(rs[0].Pending) != 1 || rs[0].Pending[0].Address != "sandbox_server.api" {
		t.Errorf("atoll drift --json = %+v", rs)
	}

	// A broken project: exit 1 with terraform's own error.
	write("infra/broken.tf", "resource \"sandbox_server\" \"x\" {\n")
	before := listTree(t, dir)
	code, out = drift()
	if code != 1 || !strings.Contains(out, "ERROR") || !strings.Contains(out, "Unclosed configuration block") {
		t.Errorf("atoll drift of a broken project = exit %d, want 1 with terraform's error:\n%s", code, out)
	}
	if after := listTree(t, dir); strings.Join(after, "\n") != strings.Join(before, "\n") {
		t.Errorf("atoll drift changed DIR:\nbefore %v\nafter  %v", before, after)
	}
}

// listTree lists the files under dir with their sizes, .git left out.
func listTree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if fi.IsDir() && fi.Name() == ".git" {
			return filepath.SkipDir
		}
		rel, _ := filepath.Rel(dir, p)
		out = append(out, fmt.Sprintf("%s %d %s", rel, fi.Size(), fi.ModTime()))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}
