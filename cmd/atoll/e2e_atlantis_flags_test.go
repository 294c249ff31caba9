package main

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/atollhq/atoll/internal/testenv"
	"github.com/atollhq/atoll/testdrive"
	"github.com/atollhq/atoll/vcs"
)

// TestE2EAtlantisFlags runs the real binary with an Atlantis deployment's
// environment: --disable-autoplan, --executable-name, --allow-commands and
// --disable-apply-all as ATLANTIS_* variables do what they do in Atlantis,
// and a refused one stops the start-up with its message.
func TestE2EAtlantisFlags(t *testing.T) {
	t.Parallel()
	gh := fakeGitHub(t)
	ctx := waitCtx(t)
	atoll := startAtollEnv(t, gh, t.TempDir(), []string{"ATLANTIS_DISABLE_AUTOPLAN=true", "ATLANTIS_EXECUTABLE_NAME=infra",
		"ATLANTIS_ALLOW_COMMANDS=version,plan,apply,unlock", "ATLANTIS_DISABLE_APPLY_ALL=true", "ATLANTIS_GH_APP_SLUG=acme-atoll"})
	files := testdrive.SampleFiles(t.TempDir())
	repo, err := gh.CreateRepo(ctx, "acme", "compat", files)
	if err != nil {
		t.Fatal(err)
	}
	sha, err := gh.Push(ctx, repo, "add-web", map[string]string{"network/main.tf": files["network/main.tf"] + webTF}, "add web")
	if err != nil {
		t.Fatal(err)
	}
	pr, err := gh.OpenPull(ctx, repo, "add-web", "main", "Add web", "alice")
	if err != nil {
		t.Fatal(err)
	}
	// Autoplan is off, and Atoll answers only to "infra".
	if _, err := gh.Comment(ctx, repo, pr, "alice", "atoll plan"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	if st := gh.Statuses(repo, sha); len(st) != 0 {
		t.Errorf("statuses with --disable-autoplan and an `atoll plan` comment: %+v", st)
	}
	if n := len(gh.Comments(repo, pr)); n != 1 {
		t.Errorf("comments = %d, want only alice's (no autoplan, no answer to atoll)", n)
	}
	if _, err := gh.Comment(ctx, repo, pr, "alice", "infra plan"); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, gh, repo, sha, "atoll/plan", vcs.StatusSuccess)
	waitComment(t, gh, repo, pr, "Plan: 2 to add, 0 to change, 0 to destroy.")
	if _, err := gh.Comment(ctx, repo, pr, "alice", "infra apply"); err != nil {
		t.Fatal(err)
	}
	waitComment(t, gh, repo, pr, "--disable-apply-all")
	if _, err := gh.Comment(ctx, repo, pr, "alice", "infra approve_policies"); err != nil {
		t.Fatal(err)
	}
	waitComment(t, gh, repo, pr, "atoll approve_policies is disabled on this server (--allow-commands)")
	if st := gh.Statuses(repo, sha); len(st) > 0 {
		for _, s := range st {
			if s.Context == "atoll/apply" && s.State == vcs.StatusSuccess {
				t.Errorf("applied although --disable-apply-all refuses a bare apply")
			}
		}
	}
	log := atoll.log.String()
	for _, want := range []string{"ATLANTIS_DISABLE_AUTOPLAN", "ATLANTIS_EXECUTABLE_NAME", "Atlantis flags accepted without effect", "gh-app-slug=acme-atoll"} {
		if !strings.Contains(log, want) {
			t.Errorf("start-up log lacks %q", want)
		}
	}

	// A refused flag stops the start-up, naming the Atoll way.
	cmd := exec.Command(atollBinary(t), "server", "--port", "0", "--data-dir", t.TempDir(), "--repo-allowlist", "*")
	cmd.Env = append(testenv.TerraformEnv(t), "ATOLL_GH_TOKEN=x", "ATOLL_GH_WEBHOOK_SECRET=y", "ATLANTIS_WRITE_GIT_CREDS=true",
		"ATLANTIS_CHECKOUT_STRATEGY=merge")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "--write-git-creds=true (an Atlantis flag): Atoll never writes the token to disk") ||
		!strings.Contains(string(out), "--checkout-strategy=merge") {
		t.Errorf("atoll server with refused Atlantis flags: %v\n%s", err, out)
	}
}
