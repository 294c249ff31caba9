package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/atollhq/atoll/testdrive"
	"github.com/atollhq/atoll/vcs"
)

const webTF = `
resource "terraform_data" "web" {
  input = "v1"
}
`

// TestE2EPlanApplyLocks is the product's core path: autoplan, lock conflict,
// stale plan refused, apply of the saved plan, restart keeping locks, release
// on merge and on unlock.
func TestE2EPlanApplyLocks(t *testing.T) {
	t.Parallel()
	gh := fakeGitHub(t)
	ctx := waitCtx(t)
	dataDir := t.TempDir()
	atoll := startAtoll(t, gh, dataDir)
	stateDir := t.TempDir()
	files := testdrive.SampleFiles(stateDir)
	repo, err := gh.CreateRepo(ctx, "acme", "infra", files)
	if err != nil {
		t.Fatal(err)
	}
	net := files["network/main.tf"]

	// 1. PR #1 changes network/: pending status linking the job page, then a plan comment.
	sha1, err := gh.Push(ctx, repo, "add-web", map[string]string{"network/main.tf": net + webTF}, "add web")
	if err != nil {
		t.Fatal(err)
	}
	pr1, err := gh.OpenPull(ctx, repo, "add-web", "main", "Add web", "alice")
	if err != nil {
		t.Fatal(err)
	}
	pending := waitStatus(t, gh, repo, sha1, "atoll/plan", vcs.StatusPending)
	if !strings.HasPrefix(pending.TargetURL, atoll.URL+"/jobs/") {
		t.Errorf("pending status links to %q, want the job page under %s/jobs/", pending.TargetURL, atoll.URL)
	}
	waitStatus(t, gh, repo, sha1, "atoll/plan", vcs.StatusSuccess)
	plan := waitComment(t, gh, repo, pr1, "Plan: 2 to add, 0 to change, 0 to destroy.")
	for _, want := range []string{"`network`", "`default`", "terraform_data.web", "```diff", "atoll apply -d network", "<details>"} {
		if !strings.Contains(plan.Body, want) {
			t.Errorf("plan comment lacks %q:\n%s", want, plan.Body)
		}
	}
	if strings.Contains(plan.Body, "\x1b[") {
		t.Errorf("plan comment has colour codes:\n%s", plan.Body)
	}
	if strings.Contains(plan.Body, "app") && strings.Contains(plan.Body, "terraform_data.service") {
		t.Errorf("plan comment planned app/, which the PR does not touch:\n%s", plan.Body)
	}
	// The job page shows the live log of that run.
	code, page := httpDo(t, http.MethodGet, pending.TargetURL, nil, nil)
	if code != http.StatusOK || !strings.Contains(page, "terraform_data.web") {
		t.Errorf("job page: %d\n%s", code, page)
	}

	// 2. PR #2 on the same dir is told who holds the lock, and nothing is planned.
	sha2, err := gh.Push(ctx, repo, "bigger-vpc", map[string]string{"network/main.tf": strings.Replace(net, "10.0.0.0/16", "10.0.0.0/8", 1)}, "bigger vpc")
	if err != nil {
		t.Fatal(err)
	}
	pr2, err := gh.OpenPull(ctx, repo, "bigger-vpc", "main", "Bigger VPC", "carol")
	if err != nil {
		t.Fatal(err)
	}
	waitComment(t, gh, repo, pr2, "locked by #1")
	waitQueued(t, gh, repo, sha2) // pending: it plans by itself when the lock comes
	if n := countComments(gh, repo, pr2, "Plan: "); n != 0 {
		t.Errorf("PR #2 got %d plan comments while locked", n)
	}

	// 3. A push whose autoplan fails discards the earlier plan: apply refuses
	// rather than apply the plan before the failure.
	broken, err := gh.Push(ctx, repo, "add-web", map[string]string{"network/main.tf": net + webTF + "resource \"terraform_data\" {\n"}, "wip")
	if err != nil {
		t.Fatal(err)
	}
	waitStatus(t, gh, repo, broken, "atoll/plan", vcs.StatusFailure)
	if _, err := gh.Comment(ctx, repo, pr1, "bob", "atoll apply"); err != nil {
		t.Fatal(err)
	}
	waitComment(t, gh, repo, pr1, "the last plan of this project (at "+broken[:7]+") failed, so there is no plan to apply", "atoll plan -d network")

	// 4. A fixed push is planned again, and apply runs exactly that saved plan.
	head, err := gh.Push(ctx, repo, "add-web", map[string]string{"network/main.tf": net + webTF}, "fix")
	if err != nil {
		t.Fatal(err)
	}
	waitStatus(t, gh, repo, head, "atoll/plan", vcs.StatusSuccess)
	if _, err := gh.Comment(ctx, repo, pr1, "bob", "atoll apply"); err != nil {
		t.Fatal(err)
	}
	apply := waitComment(t, gh, repo, pr1, "Apply complete! Resources: 2 added, 0 changed, 0 destroyed.")
	if !strings.Contains(apply.Body, "`network`") {
		t.Errorf("apply comment does not name the project:\n%s", apply.Body)
	}
	waitStatus(t, gh, repo, head, "atoll/apply", vcs.StatusSuccess)
	state, err := os.ReadFile(filepath.Join(stateDir, "network.tfstate"))
	if err != nil || !strings.Contains(string(state), "terraform_data") || !strings.Contains(string(state), `"web"`) {
		t.Errorf("state after apply does not hold terraform_data.web: %v\n%s", err, state)
	}

	// 5. A restart keeps the lock: PR #2 is still refused, and the API lists the lock.
	atoll.Stop()
	atoll = startAtoll(t, gh, dataDir)
	code, body := httpDo(t, http.MethodGet, atoll.URL+"/api/locks", nil, nil)
	var locks struct {
		Locks []struct {
			ID   string `json:"id"`
			Dir  string `json:"dir"`
			Pull int    `json:"pull"`
		} `json:"locks"`
	}
	if err := json.Unmarshal([]byte(body), &locks); err != nil || code != http.StatusOK {
		t.Fatalf("GET /api/locks: %d %v\n%s", code, err, body)
	}
	if len(locks.Locks) != 1 || locks.Locks[0].Dir != "network" || locks.Locks[0].Pull != pr1 {
		t.Fatalf("locks after restart = %+v, want network held by #%d", locks.Locks, pr1)
	}
	if _, err := gh.Comment(ctx, repo, pr2, "carol", "atoll plan"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return strings.Count(joinBodies(gh, repo, pr2), "locked by #1") >= 2 }, "PR #2 refused again after restart")

	// 6. Merging PR #1 releases its locks; PR #2 can now plan.
	if err := gh.ClosePull(ctx, repo, pr1, true); err != nil {
		t.Fatal(err)
	}
	waitComment(t, gh, repo, pr1, "released")
	if _, err := gh.Comment(ctx, repo, pr2, "carol", "atoll plan"); err != nil {
		t.Fatal(err)
	}
	// PR #2's branch predates the merge: it changes the vpc and would remove web.
	waitComment(t, gh, repo, pr2, "1 to change", "1 to destroy")
	// 7. `atoll unlock` releases PR #2's locks.
	if _, err := gh.Comment(ctx, repo, pr2, "carol", "atoll unlock"); err != nil {
		t.Fatal(err)
	}
	waitComment(t, gh, repo, pr2, "network")
	waitFor(t, func() bool {
		_, body := httpDo(t, http.MethodGet, atoll.URL+"/api/locks", nil, nil)
		return strings.Contains(body, `"locks":[]`)
	}, "locks released after atoll unlock")

	// The token never reaches a comment or the log.
	if strings.Contains(joinBodies(gh, repo, pr1)+joinBodies(gh, repo, pr2), e2eToken) {
		t.Error("a comment contains the GitHub token")
	}
	if strings.Contains(atoll.log.String(), e2eToken) {
		t.Error("the server log contains the GitHub token")
	}
	assertNoTokenOnDisk(t, dataDir)
}

// TestE2EErrors covers bad input: webhooks that fail verification or parsing,
// a malformed command, and terraform failing.
func TestE2EErrors(t *testing.T) {
	t.Parallel()
	gh := fakeGitHub(t)
	ctx := waitCtx(t)
	atoll := startAtoll(t, gh, t.TempDir())
	repo, err := gh.CreateRepo(ctx, "acme", "broken", testdrive.SampleFiles(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}

	payload := `{"zen":"hi","hook_id":1}`
	for _, tc := range []struct {
		name   string
		header map[string]string
		body   string
		want   int
	}{
		{"bad signature", map[string]string{"X-GitHub-Event": "ping", "Content-Type": "application/json", "X-Hub-Signature-256": "sha256=" + strings.Repeat("0", 64)}, payload, http.StatusUnauthorized},
		{"no signature", map[string]string{"X-GitHub-Event": "ping", "Content-Type": "application/json"}, payload, http.StatusUnauthorized},
		{"malformed json", map[string]string{"X-GitHub-Event": "pull_request", "Content-Type": "application/json", "X-Hub-Signature-256": sign("{not json")}, "{not json", http.StatusBadRequest},
		{"good ping", map[string]string{"X-GitHub-Event": "ping", "Content-Type": "application/json", "X-Hub-Signature-256": sign(payload)}, payload, http.StatusOK},
	} {
		code, body := httpDo(t, http.MethodPost, atoll.URL+"/events", strings.NewReader(tc.body), tc.header)
		if code != tc.want {
			t.Errorf("%s: POST /events = %d %q, want %d", tc.name, code, body, tc.want)
		}
	}

	// A syntax error: the failing step, its exit code and terraform's output are in the comment.
	sha, err := gh.Push(ctx, repo, "typo", map[string]string{"network/main.tf": "resource \"terraform_data\" \"x\" {\n  input = \n}\n"}, "typo")
	if err != nil {
		t.Fatal(err)
	}
	pr, err := gh.OpenPull(ctx, repo, "typo", "main", "Typo", "dave")
	if err != nil {
		t.Fatal(err)
	}
	waitStatus(t, gh, repo, sha, "atoll/plan", vcs.StatusFailure)
	c := waitComment(t, gh, repo, pr, "exit code", "Invalid expression")
	if !strings.Contains(c.Body, "init") && !strings.Contains(c.Body, "plan") {
		t.Errorf("error comment does not name the failing step:\n%s", c.Body)
	}

	// A malformed command gets the help text with the reason.
	if _, err := gh.Comment(ctx, repo, pr, "dave", "atoll plan -d ../../etc"); err != nil {
		t.Fatal(err)
	}
	waitComment(t, gh, repo, pr, "leaves the repository", "atoll plan")
	if _, err := gh.Comment(ctx, repo, pr, "dave", "atoll plan -- -chdir=/"); err != nil {
		t.Fatal(err)
	}
	waitComment(t, gh, repo, pr, "-chdir is not allowed")
	// Comments not addressed to Atoll are ignored: no reply.
	before := len(gh.Comments(repo, pr))
	if _, err := gh.Comment(ctx, repo, pr, "dave", "looks good to me"); err != nil {
		t.Fatal(err)
	}
	if _, err := gh.Comment(ctx, repo, pr, "dave", "atoll help"); err != nil {
		t.Fatal(err)
	}
	// Two comments of ours and one answer (to `atoll help`): the chat gets none.
	waitFor(t, func() bool { return len(gh.Comments(repo, pr)) >= before+3 }, "the answer to atoll help")
	time.Sleep(500 * time.Millisecond) // room for a wrong second answer to show up
	if got := len(gh.Comments(repo, pr)); got != before+3 {
		t.Errorf("comments after chat + help = %d, want %d (the chat must get no reply)", got, before+3)
	}
	if last := gh.Comments(repo, pr)[before+2]; !strings.Contains(last.Body, "atoll unlock") || last.User != gh.BotUser() {
		t.Errorf("last comment is not Atoll's help:\n%s", last.Body)
	}
	if strings.Contains(atoll.log.String(), "panic") {
		t.Errorf("server log mentions a panic:\n%s", atoll.log.String())
	}
}

// TestE2ETestdrive runs `atoll testdrive --exit`, the README's demo.
func TestE2ETestdrive(t *testing.T) {
	t.Parallel()
	// A relative --terraform path must work: terraform runs in other directories.
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(wd, terraformPath(t))
	if err != nil {
		t.Fatal(err)
	}
	sandboxEnv(t) // builds the provider binary
	cmd := execCommand(t, atollBinary(t), "testdrive", "--exit", "--terraform", rel, "--dir", t.TempDir(), "--sandbox-provider", providerBin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("atoll testdrive: %v\n%s", err, out)
	}
	for _, want := range []string{"Setup", "Step 1", "Plan: 1 to add, 0 to change, 0 to destroy.", "locked by #1", "queued (position 1)", "This plan was queued", "passed to #2, which was queued for it and is planned now", "@mallory may not run `atoll apply`", "Apply complete! Resources: 1 added", "Locks released", "Plan: 0 to add, 1 to change, 0 to destroy.",
		"Step 6", "#2 was merged as", "so Atoll applied it", "Roll back: comment `atoll revert`",
		"Step 7", "### Revert opened: #3", "Step 8", "#3 was merged as",
		"Step 9", "Drift: acme/infra app (default)", "`size`: `\"small\"` in Git, `\"large\"` in reality",
		"Step 10", "Apply complete! Resources: 0 added, 1 changed, 0 destroyed.", "is closed: Back in sync", "Test drive complete"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("testdrive output lacks %q:\n%s", want, out)
		}
	}
}

func sign(body string) string {
	m := hmac.New(sha256.New, []byte(e2eSecret))
	m.Write([]byte(body))
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}
