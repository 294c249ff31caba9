package config

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRunEnvProject(t *testing.T) {
	t.Parallel()
	approved := true
	got := RunEnv(RunEnvInput{
		Project:  Project{Name: "net", Dir: "envs/prod", Workspace: "blue", TerraformVersion: "1.5.7"},
		RepoRoot: "/work/repo", Command: "plan",
		Pull: 7, PullURL: "https://github.com/acme/infra/pull/7", PullAuthor: "alice",
		HeadSHA: "abc123", HeadBranch: "feature", BaseBranch: "main",
		BaseRepoOwner: "acme", BaseRepoName: "infra", HeadRepoOwner: "fork", HeadRepoName: "infra2",
		User: "bob", CommentArgs: []string{"-var", "a=b"},
		PlanFile: "/work/repo/envs/prod/blue.tfplan", ShowFile: "/work/repo/envs/prod/blue.json",
		Approved: &approved,
	})
	want := map[string]string{
		"WORKSPACE": "blue", "DIR": filepath.Join("/work/repo", "envs/prod"), "REPO_REL_DIR": "envs/prod",
		"PROJECT_NAME": "net", "PLANFILE": "/work/repo/envs/prod/blue.tfplan", "SHOWFILE": "/work/repo/envs/prod/blue.json",
		"ATLANTIS_TERRAFORM_VERSION": "1.5.7", "BASE_REPO_OWNER": "acme", "BASE_REPO_NAME": "infra",
		"HEAD_REPO_OWNER": "fork", "HEAD_REPO_NAME": "infra2", "HEAD_BRANCH_NAME": "feature", "BASE_BRANCH_NAME": "main",
		"HEAD_COMMIT": "abc123", "PULL_NUM": "7", "PULL_URL": "https://github.com/acme/infra/pull/7", "PULL_AUTHOR": "alice",
		"USER_NAME": "bob", "COMMENT_ARGS": `\-\v\a\r,\a\=\b`, "COMMAND_NAME": "plan", "ATLANTIS_PR_APPROVED": "true",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("RunEnv mismatch (-want +got):\n%s", diff)
	}
}

func TestRunEnvHook(t *testing.T) {
	t.Parallel()
	got := RunEnv(RunEnvInput{RepoRoot: "/work/repo", Pull: 3, User: "bob", OutputStatusFile: "/tmp/status"})
	for _, k := range []string{"WORKSPACE", "PROJECT_NAME", "PLANFILE", "REPO_REL_DIR"} {
		if _, ok := got[k]; ok {
			t.Errorf("hook env has project variable %s", k)
		}
	}
	if got["DIR"] != "/work/repo" || got["PULL_NUM"] != "3" || got["OUTPUT_STATUS_FILE"] != "/tmp/status" || got["COMMENT_ARGS"] != "" {
		t.Errorf("hook env = %v", got)
	}
}

// TestRunEnvInShell runs a real shell with the environment, the way run steps
// do, to check that COMMENT_ARGS survives the shell and unescapes to the arguments.
func TestRunEnvInShell(t *testing.T) {
	t.Parallel()
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Fatal("sh not found on PATH")
	}
	env := RunEnv(RunEnvInput{Project: Project{Dir: "."}, RepoRoot: t.TempDir(), CommentArgs: []string{"-target=a.b", "x y"}})
	var list []string
	for k, v := range env {
		list = append(list, k+"="+v)
	}
	sort.Strings(list)
	cmd := exec.Command(sh, "-c", `printf '%s|%s|' "$WORKSPACE" "$REPO_REL_DIR"; printf '%s\n' "$COMMENT_ARGS" | sed 's/\\\(.\)/\1/g'`)
	cmd.Env = append(os.Environ(), list...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("sh: %v\n%s", err, out)
	}
	if got, want := strings.TrimSpace(string(out)), "default|.|-target=a.b,x y"; got != want {
		t.Errorf("shell saw %q, want %q", got, want)
	}
}
