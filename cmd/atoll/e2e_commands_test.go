package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/atollhq/atoll/internal/testenv"
	"github.com/atollhq/atoll/testdrive/sandbox"
	"github.com/atollhq/atoll/vcs"
	"github.com/atollhq/atoll/vcs/vcstest"
)

// sandboxRepo creates acme/NAME with one project, infra/, using the sandbox
// provider whose cloud is the file cloud, and state in stateDir.
func sandboxRepo(t *testing.T, gh *vcstest.Server, name, stateDir, cloud string) (vcs.Repo, string) {
	t.Helper()
	main := fmt.Sprintf(`terraform {
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
`, filepath.Join(stateDir, "infra.tfstate"), cloud)
	repo, err := gh.CreateRepo(waitCtx(t), "acme", name, map[string]string{"infra/main.tf": main})
	if err != nil {
		t.Fatal(err)
	}
	return repo, main
}

// TestE2EImportStateRm: a server made outside Terraform is adopted with
// `atoll import` (once import_requirements are met, by someone with write
// access), after which the PR's plan is stale and apply refuses until a new
// plan, which has nothing to create; `atoll state rm` forgets it again, and
// the next plan creates it.
func TestE2EImportStateRm(t *testing.T) {
	t.Parallel()
	gh := fakeGitHub(t)
	dir := t.TempDir()
	cloud := filepath.Join(dir, "cloud.json")
	srv, err := sandbox.AddServer(cloud, "web", "small")
	if err != nil {
		t.Fatal(err)
	}
	atoll := startAtollEnv(t, gh, t.TempDir(), sandboxEnv(t), writeReposYAML(t, "repos:\n- id: /.*/\n  import_requirements: [approved]\n"))
	repo, main := sandboxRepo(t, gh, "infra", dir, cloud)
	web := main + "\nresource \"sandbox_server\" \"web\" {\n  name = \"web\"\n  size = \"small\"\n}\n"
	sha, pr := openPR(t, gh, repo, "adopt-web", map[string]string{"infra/main.tf": web}, "alice")
	waitStatus(t, gh, repo, sha, "atoll/plan", vcs.StatusSuccess)
	waitComment(t, gh, repo, pr, "Plan: 1 to add, 0 to change, 0 to destroy.")

	// A stranger (read access) is refused, naming the rule; nothing runs.
	comment(t, gh, repo, pr, "mallory", "atoll import -d infra sandbox_server.web "+srv.ID)
	waitComment(t, gh, repo, pr, "Atoll did not run `atoll import`", "@mallory may not run `atoll import`", "**write** permission", "`--command-permission`")

	// import_requirements: [approved] blocks bob until someone approves.
	importCmd := "atoll import -d infra sandbox_server.web " + srv.ID
	comment(t, gh, repo, pr, "bob", importCmd)
	waitComment(t, gh, repo, pr, "### Import blocked for `infra` · workspace `default`", "requirement `approved` is not met (set by the server's repos.yaml for `/.*/`)")
	if err := gh.Review(repo, pr, "carol", "APPROVED"); err != nil {
		t.Fatal(err)
	}
	comment(t, gh, repo, pr, "bob", importCmd+" -- -lock-timeout=30s")
	imported := waitComment(t, gh, repo, pr, "### Imported `sandbox_server.web` into `infra` · workspace `default`")
	for _, want := range []string{"Terraform now manages `" + srv.ID + "`", "**This project's plan is now stale**", "`atoll plan -d infra`", "Import successful!"} {
		if !strings.Contains(imported.Body, want) {
			t.Errorf("import comment lacks %q:\n%s", want, imported.Body)
		}
	}
	t.Logf("import comment:\n%s", imported.Body)
	waitStatus(t, gh, repo, sha, "atoll/plan", vcs.StatusFailure)

	// The plan made before the import is gone: apply refuses it.
	comment(t, gh, repo, pr, "bob", "atoll apply")
	waitComment(t, gh, repo, pr, "discarded: the state changed by `atoll import` (@bob)", "Run `atoll plan -d infra` again")
	if servers, err := sandbox.Servers(cloud); err != nil || len(servers) != 1 || servers["web"].ID != srv.ID {
		t.Fatalf("cloud after the refused apply = %+v, %v; want only the imported server", servers, err)
	}

	if code, page := httpDo(t, http.MethodGet, fmt.Sprintf("%s/pulls/acme/infra/%d", atoll.URL, pr), nil, nil); code != http.StatusOK ||
		!strings.Contains(page, "discarded: the state changed by") || !strings.Contains(page, "re-plan") {
		t.Errorf("the pull request page does not show the discarded plan: %d\n%s", code, page)
	}

	// A new plan has nothing to create.
	comment(t, gh, repo, pr, "bob", "atoll plan -d infra")
	waitComment(t, gh, repo, pr, "### Plan for `infra` · workspace `default` — no changes")
	waitStatus(t, gh, repo, sha, "atoll/plan", vcs.StatusSuccess)

	// state rm forgets it (the server stays), and the next plan creates it.
	comment(t, gh, repo, pr, "bob", "atoll state rm -d infra sandbox_server.web")
	removed := waitComment(t, gh, repo, pr, "### Removed 1 address from the state of `infra` · workspace `default`")
	if !strings.Contains(removed.Body, "- `sandbox_server.web`") || !strings.Contains(removed.Body, "the real resources were not touched") {
		t.Errorf("state rm comment:\n%s", removed.Body)
	}
	if servers, _ := sandbox.Servers(cloud); len(servers) != 1 {
		t.Errorf("state rm touched the cloud: %+v", servers)
	}
	comment(t, gh, repo, pr, "bob", "atoll plan -d infra")
	waitFor(t, func() bool { return countComments(gh, repo, pr, "Plan: 1 to add, 0 to change, 0 to destroy.") == 2 }, "a plan that creates the server again")

	// A bad address is refused before anything runs.
	comment(t, gh, repo, pr, "bob", "atoll state rm -d infra '-state=/tmp/x'")
	waitComment(t, gh, repo, pr, "Atoll could not run that command", "flag provided but not defined: -state")

	// Both are in the audit trail.
	for _, action := range []string{"import", "state_rm"} {
		code, body := httpDo(t, http.MethodGet, atoll.URL+"/api/audit?action="+action, nil, nil)
		if code != http.StatusOK || !strings.Contains(body, `"user":"bob"`) || !strings.Contains(body, "sandbox_server.web") {
			t.Errorf("GET /api/audit?action=%s: %d\n%s", action, code, body)
		}
	}
}

// slowPlanReposYAML is a repos.yaml whose plan workflow first sleeps secs
// seconds once (as slowOnce does; each test its own secs, so that tests
// running at once tell their sleeps apart) in a run step.
func slowPlanReposYAML(t *testing.T, marker, secs string) string {
	t.Helper()
	step := fmt.Sprintf("test -f %s || { touch %s; exec sleep %s; }", marker, marker, secs)
	return writeReposYAML(t, fmt.Sprintf("repos:\n- id: /.*/\n  workflow: slow\nworkflows:\n  slow:\n    plan:\n      steps:\n      - run: %q\n      - init\n      - plan\n", step))
}

// sleeping reports whether a `sleep secs` of slowPlanReposYAML runs.
func sleeping(t *testing.T, secs string) bool { return processRunning(t, "sleep\x00"+secs) }

// TestE2ECancel: `atoll cancel` in the middle of a plan stops it (its
// process is interrupted and gone), drops the queued apply, keeps the lock,
// and says what it cancelled; the plan's own comment and status say who
// cancelled it, not that it failed.
func TestE2ECancel(t *testing.T) {
	t.Parallel()
	gh := fakeGitHub(t)
	marker := filepath.Join(t.TempDir(), "slept")
	atoll := startAtoll(t, gh, t.TempDir(), slowPlanReposYAML(t, marker, "61.41"))
	repo := networkRepo(t, gh, "infra", t.TempDir())
	sha, pr := openPR(t, gh, repo, "subnet", map[string]string{
		"network/subnet.tf": "resource \"terraform_data\" \"subnet\" {\n  input = \"10.0.1.0/24\"\n}\n",
	}, "alice")
	waitFor(t, func() bool { return sleeping(t, "61.41") }, "the slow step's sleep")
	running := waitComment(t, gh, repo, pr, "network") // the running comment, after --live-comment-delay
	comment(t, gh, repo, pr, "carol", "atoll apply")
	waitFor(t, func() bool {
		_, jobs := httpDo(t, http.MethodGet, atoll.URL+"/api/jobs", nil, nil)
		return strings.Contains(jobs, `"command":"apply"`)
	}, "the apply to wait for the plan")

	comment(t, gh, repo, pr, "bob", "atoll cancel")
	cancelled := waitComment(t, gh, repo, pr, "### Cancelled: plan of `network` (default), running ")
	for _, want := range []string{"; 1 queued apply", "Cancelled by @bob", "keeps its locks"} {
		if !strings.Contains(cancelled.Body, want) {
			t.Errorf("cancel comment lacks %q:\n%s", want, cancelled.Body)
		}
	}
	t.Logf("cancel comment:\n%s", cancelled.Body)
	waitFor(t, func() bool { return !sleeping(t, "61.41") }, "the slow step's sleep to end")
	st := waitStatus(t, gh, repo, sha, "atoll/plan", vcs.StatusError)
	if st.Description != "Cancelled by @bob" {
		t.Errorf("plan status description = %q, want \"Cancelled by @bob\"", st.Description)
	}
	waitFor(t, func() bool {
		for _, c := range gh.Comments(repo, pr) {
			if c.ID == running.ID {
				return strings.Contains(c.Body, "**`autoplan` was cancelled by @bob** after ")
			}
		}
		return false
	}, "the plan's running comment to say who cancelled it")
	if body := joinBodies(gh, repo, pr); strings.Contains(body, "failed") || strings.Contains(body, "Apply for") {
		t.Errorf("a comment says failed, or the queued apply ran:\n%s", body)
	}
	waitFor(t, func() bool {
		_, jobs := httpDo(t, http.MethodGet, atoll.URL+"/api/jobs?state=cancelled", nil, nil)
		return strings.Count(jobs, `"state":"cancelled"`) == 2 // the plan and the queued apply
	}, "the jobs page to list the plan and the apply as cancelled")
	code, locks := httpDo(t, http.MethodGet, atoll.URL+"/api/locks", nil, nil)
	if code != http.StatusOK || !strings.Contains(locks, `"dir":"network"`) {
		t.Errorf("the plan's lock is gone after cancel: %d %s", code, locks)
	}
	// The pull request plans again as usual.
	comment(t, gh, repo, pr, "bob", "atoll plan")
	waitComment(t, gh, repo, pr, "Plan: 2 to add, 0 to change, 0 to destroy.")
	waitStatus(t, gh, repo, sha, "atoll/plan", vcs.StatusSuccess)
}

// TestE2EPushCancelsPlan: a push during a slow plan cancels it and plans the
// new head: one plan comment, for the new head (runatlantis/atlantis#305).
func TestE2EPushCancelsPlan(t *testing.T) {
	t.Parallel()
	gh := fakeGitHub(t)
	marker := filepath.Join(t.TempDir(), "slept")
	startAtoll(t, gh, t.TempDir(), slowPlanReposYAML(t, marker, "61.43"))
	repo := networkRepo(t, gh, "infra", t.TempDir())
	sha1, pr := openPR(t, gh, repo, "subnet", map[string]string{
		"network/subnet.tf": "resource \"terraform_data\" \"subnet\" {\n  input = \"10.0.1.0/24\"\n}\n",
	}, "alice")
	waitFor(t, func() bool { return sleeping(t, "61.43") }, "the slow step's sleep")
	running := waitComment(t, gh, repo, pr, "network")

	sha2, err := gh.Push(waitCtx(t), repo, "subnet", map[string]string{
		"network/subnet.tf": "resource \"terraform_data\" \"subnet\" {\n  input = \"10.0.2.0/24\"\n}\n",
	}, "other subnet")
	if err != nil {
		t.Fatal(err)
	}
	waitStatus(t, gh, repo, sha2, "atoll/plan", vcs.StatusSuccess)
	waitFor(t, func() bool { return !sleeping(t, "61.43") }, "the slow step's sleep to end")
	st := waitStatus(t, gh, repo, sha1, "atoll/plan", vcs.StatusError)
	if want := "Cancelled: a newer push (" + sha2[:7] + ") is planned"; st.Description != want {
		t.Errorf("old head's status = %q, want %q", st.Description, want)
	}
	plan := waitComment(t, gh, repo, pr, "Plan: 2 to add, 0 to change, 0 to destroy.")
	if !strings.Contains(plan.Body, "10.0.2.0/24") || strings.Contains(plan.Body, "10.0.1.0/24") {
		t.Errorf("the plan is not the new head's:\n%s", plan.Body)
	}
	if n := countComments(gh, repo, pr, "Plan: "); n != 1 {
		t.Errorf("%d plan comments, want 1 (the new head's):\n%s", n, joinBodies(gh, repo, pr))
	}
	for _, c := range gh.Comments(repo, pr) {
		if c.ID == running.ID && (!strings.Contains(c.Body, "was cancelled** after") || !strings.Contains(c.Body, "a new push (`"+sha2[:7]+"`) is planned instead")) {
			t.Errorf("the old head's running comment was not edited:\n%s", c.Body)
		}
	}
	if body := joinBodies(gh, repo, pr); strings.Contains(body, "failed") {
		t.Errorf("a comment says failed:\n%s", body)
	}
}

// TestAllowCommandsStateCancel: --allow-commands can name import, state and
// cancel, and leaving them out refuses them.
func TestAllowCommandsStateCancel(t *testing.T) {
	t.Parallel()
	cmds, err := parseAllowCommands("plan,apply,import,state,cancel")
	if err != nil || strings.Join(cmds, ",") != "plan,apply,import,state,cancel" {
		t.Errorf("parseAllowCommands = %v, %v", cmds, err)
	}
	cmds, err = parseAllowCommands("plan,apply,unlock")
	if err != nil || strings.Contains(strings.Join(cmds, ","), "import") {
		t.Errorf("parseAllowCommands without import = %v, %v", cmds, err)
	}
}

// TestE2ECancelAcrossReplicas: with two replicas on one Redis, `atoll cancel`
// handled by one replica stops the plan running on the other.
func TestE2ECancelAcrossReplicas(t *testing.T) {
	t.Parallel()
	gh := fakeGitHub(t)
	redisAddr := testenv.RedisServer(t)
	marker := filepath.Join(t.TempDir(), "slept")
	flags := append(redisFlags(t, redisAddr), "--cluster-lease=3s", slowPlanReposYAML(t, marker, "61.47"), "--lock-reconcile-interval=1h")
	// A has one worker, busy with the plan: the cancel goes to B.
	a := startAtoll(t, gh, t.TempDir(), append(flags, "--max-parallel-jobs=1")...)
	repo := networkRepo(t, gh, "infra", t.TempDir())
	sha, pr := openPR(t, gh, repo, "subnet", map[string]string{
		"network/subnet.tf": "resource \"terraform_data\" \"subnet\" {\n  input = \"10.0.1.0/24\"\n}\n",
	}, "alice")
	waitFor(t, func() bool { return sleeping(t, "61.47") }, "the slow step's sleep on replica A")
	if len(logLines(a.log.String(), `msg="job started"`)) == 0 {
		t.Fatal("replica A is not running the plan")
	}
	b := startAtoll(t, gh, t.TempDir(), flags...) // webhooks now go to B

	comment(t, gh, repo, pr, "bob", "atoll cancel")
	cancelled := waitComment(t, gh, repo, pr, "### Cancelled: plan of `network` (default), running ")
	t.Logf("cancel comment:\n%s", cancelled.Body)
	if strings.Contains(cancelled.Body, "did not confirm") {
		t.Errorf("replica A did not confirm the cancellation:\n%s", cancelled.Body)
	}
	waitFor(t, func() bool { return !sleeping(t, "61.47") }, "the slow step's sleep to end")
	if st := waitStatus(t, gh, repo, sha, "atoll/plan", vcs.StatusError); st.Description != "Cancelled by @bob" {
		t.Errorf("plan status = %q, want \"Cancelled by @bob\"", st.Description)
	}
	if len(logLines(a.log.String(), `msg="job cancelled"`)) == 0 {
		t.Errorf("replica A's log does not say it cancelled its job")
	}
	if len(logLines(b.log.String(), `msg="jobs cancelled"`)) == 0 {
		t.Errorf("replica B's log does not say it ran the cancel")
	}
	if body := joinBodies(gh, repo, pr); strings.Contains(body, "failed") || strings.Contains(body, "Atoll stopped") {
		t.Errorf("a comment says failed or stopped:\n%s", body)
	}
	// The lock stays, and the job is not taken over by B.
	if _, locks := httpDo(t, http.MethodGet, b.URL+"/api/locks", nil, nil); !strings.Contains(locks, `"dir":"network"`) {
		t.Errorf("the plan's lock is gone: %s", locks)
	}
	if len(logLines(b.log.String(), "took over a job")) != 0 {
		t.Errorf("replica B took the cancelled job over:\n%s", b.log.String())
	}
}

// TestE2ECancelInterruptsTerraform: `atoll cancel` while terraform plan waits
// on a slow provider: terraform gets SIGINT (its log says "Interrupt
// received"); the provider does not stop, so --kill-grace later what is left
// is killed, and no process of the plan is left.
func TestE2ECancelInterruptsTerraform(t *testing.T) {
	t.Parallel()
	gh := fakeGitHub(t)
	dir, dataDir := t.TempDir(), t.TempDir()
	atoll := startAtollEnv(t, gh, dataDir, sandboxEnv(t), "--kill-grace=3s")
	repo, main := sandboxRepo(t, gh, "infra", dir, filepath.Join(dir, "cloud.json"))
	slow := strings.Replace(main, "provider \"sandbox\" {\n", "provider \"sandbox\" {\n  configure_delay = \"90s\"\n", 1) +
		"\nresource \"sandbox_server\" \"web\" {\n  name = \"web\"\n  size = \"small\"\n}\n"
	sha, pr := openPR(t, gh, repo, "slow", map[string]string{"infra/main.tf": slow}, "alice")
	// terraform plan runs, and its provider (both under the data dir) waits.
	// (The server's own command line names the data dir, without a "/" after it.)
	waitFor(t, func() bool { return processIn(t, dataDir, "plan\x00-no-color") }, "terraform plan to run")
	// Terraform starts the provider once for its schema, then again to
	// configure it, which takes 90s: wait until that one runs.
	waitFor(t, func() bool { return processIn(t, dataDir, "terraform-provider-sandbox") }, "the provider to start")
	time.Sleep(3 * time.Second)
	if !processIn(t, dataDir, "terraform-provider-sandbox") {
		t.Fatal("the provider is not configuring")
	}
	pending := waitStatus(t, gh, repo, sha, "atoll/plan", vcs.StatusPending)

	comment(t, gh, repo, pr, "bob", "atoll cancel")
	waitComment(t, gh, repo, pr, "### Cancelled: plan of `infra` (default), running ")
	waitFor(t, func() bool { return !processIn(t, dataDir, "") }, "terraform and its provider to exit")
	waitStatus(t, gh, repo, sha, "atoll/plan", vcs.StatusError)
	var log string
	waitFor(t, func() bool {
		_, log = httpDo(t, http.MethodGet, pending.TargetURL+"/log", nil, nil) // the whole log once the job has ended
		return strings.Contains(log, "cancelled by @bob")
	}, "the job to end")
	if !strings.Contains(log, "Interrupt received") {
		t.Errorf("the job log (%s) does not show terraform interrupted:\n%s", pending.TargetURL, log)
	}
	if strings.Contains(atoll.log.String(), "level=ERROR") && strings.Contains(atoll.log.String(), "panic") {
		t.Errorf("the server panicked")
	}
}

// processIn reports whether a live process runs in dir or below it (its
// working directory) with a command line (arguments joined by NUL) holding
// sub.
func processIn(t *testing.T, dir, sub string) bool {
	t.Helper()
	procs, err := filepath.Glob("/proc/[0-9]*")
	if err != nil || len(procs) == 0 {
		t.Fatalf("cannot list processes in /proc: %v", err)
	}
	for _, p := range procs {
		cwd, err := os.Readlink(filepath.Join(p, "cwd"))
		if err != nil || (cwd != dir && !strings.HasPrefix(cwd, dir+"/")) {
			continue
		}
		if b, err := os.ReadFile(filepath.Join(p, "cmdline")); err == nil && strings.Contains(string(b), sub) {
			return true
		}
	}
	return false
}
