package main

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/atollhq/atoll/internal/testenv"
	"github.com/atollhq/atoll/vcs"
	"github.com/atollhq/atoll/vcs/vcstest"
)

// The TestE2ESecurity* tests try Atoll as an attacker would, through the real
// binary, the fake GitHub and real terraform (see docs/security.md).

// A user with no role in the repository cannot plan or apply, and their own
// approval does not satisfy `approved`; a re-plan with -destroy after the
// approvals needs a fresh approval before apply.
func TestE2ESecurityStrangerCannotApply(t *testing.T) {
	t.Parallel()
	gh := fakeGitHub(t)
	state := t.TempDir()
	startAtoll(t, gh, t.TempDir(), writeReposYAML(t, "repos:\n- id: /.*/\n  apply_requirements: [approved]\n"))
	repo := networkRepo(t, gh, "infra", state)
	_, pr := openPR(t, gh, repo, "subnet", map[string]string{
		"network/subnet.tf": "resource \"terraform_data\" \"subnet\" {\n  input = \"10.0.1.0/24\"\n}\n",
	}, "alice")
	waitComment(t, gh, repo, pr, "Plan: 2 to add, 0 to change, 0 to destroy.")

	// mallory can read the repository (it is public) but not push to it.
	comment(t, gh, repo, pr, "mallory", "atoll plan -d network -- -destroy")
	waitComment(t, gh, repo, pr, "@mallory may not run `atoll plan`", "**write** permission", "@mallory has read", "`--command-permission`")
	comment(t, gh, repo, pr, "mallory", "atoll apply -d network")
	waitComment(t, gh, repo, pr, "@mallory may not run `atoll apply`")
	comment(t, gh, repo, pr, "mallory", "atoll unlock")
	waitComment(t, gh, repo, pr, "@mallory may not run `atoll unlock`")

	// Neither mallory's approval nor the author's counts.
	if err := gh.Review(repo, pr, "mallory", "APPROVED"); err != nil {
		t.Fatal(err)
	}
	if err := gh.Review(repo, pr, "alice", "APPROVED"); err != nil {
		t.Fatal(err)
	}
	comment(t, gh, repo, pr, "carol", "atoll apply -d network")
	refused := waitComment(t, gh, repo, pr, "@mallory has read, not write access")
	if !strings.Contains(refused.Body, "@alice opened the pull request") || strings.Contains(refused.Body, "Apply complete") {
		t.Errorf("apply refusal does not explain both ignored approvals:\n%s", refused.Body)
	}

	// bob may approve: carol's apply now runs the reviewed plan.
	if err := gh.Review(repo, pr, "bob", "APPROVED"); err != nil {
		t.Fatal(err)
	}
	comment(t, gh, repo, pr, "carol", "atoll apply -d network")
	waitComment(t, gh, repo, pr, "Apply complete! Resources: 2 added, 0 changed, 0 destroyed.")
	if err := gh.ClosePull(waitCtx(t), repo, pr, true); err != nil {
		t.Fatal(err)
	}
	waitComment(t, gh, repo, pr, "released")

	// A second PR: approved, then re-planned with -destroy by a writer. The
	// approval was for another plan, so apply refuses until bob approves again.
	_, pr2 := openPR(t, gh, repo, "rename", map[string]string{
		"network/subnet.tf": "resource \"terraform_data\" \"subnet\" {\n  input = \"10.0.2.0/24\"\n}\n",
	}, "alice")
	waitComment(t, gh, repo, pr2, "Plan: 0 to add, 1 to change, 0 to destroy.")
	if err := gh.Review(repo, pr2, "bob", "APPROVED"); err != nil {
		t.Fatal(err)
	}
	comment(t, gh, repo, pr2, "carol", "atoll plan -d network -- -destroy")
	waitComment(t, gh, repo, pr2, "Plan: 0 to add, 0 to change, 2 to destroy.")
	comment(t, gh, repo, pr2, "carol", "atoll apply -d network")
	waitComment(t, gh, repo, pr2, "@bob approved before the plan changed (it was made again with `-destroy`")
	if err := gh.Review(repo, pr2, "bob", "APPROVED"); err != nil {
		t.Fatal(err)
	}
	comment(t, gh, repo, pr2, "carol", "atoll apply -d network")
	waitComment(t, gh, repo, pr2, "Apply complete! Resources: 0 added, 0 changed, 2 destroyed.")
}

// The canary: a server started with every secret in its environment runs a
// pull request whose terraform and run steps print their whole environment.
// No secret appears anywhere a user can read: comments, statuses, job pages,
// the API, the server log or files on disk. Atoll's own settings do not even
// reach terraform; the user's variables do, and token-shaped values among them
// are redacted.
func TestE2ESecuritySecretsCanary(t *testing.T) {
	t.Parallel()
	gh := fakeGitHub(t)
	const (
		webPassword = "canary-web-password-91f2"
		apiSecret   = "canary-api-secret-77aa"
		redisPass   = "canary-redis-password-3b1c"
		userToken   = "ghp_CanaryUserTokenAbcdefghijklmnopqrstuv12"
		awsKey      = "AKIACANARYKEY0000001"
	)
	secrets := []string{e2eToken, e2eSecret, webPassword, apiSecret, redisPass, userToken, awsKey}
	dataDir := t.TempDir()
	reposYAML := writeReposYAML(t, `repos:
- id: /.*/
  allowed_overrides: [workflow]
  allow_custom_workflows: true
  pre_workflow_hooks:
  - run: env | sort
`)
	atoll := startAtollEnv(t, gh, dataDir, []string{
		"ATOLL_GH_WEBHOOK_SECRET=" + e2eSecret,
		"ATOLL_WEB_BASIC_AUTH=true",
		"ATOLL_WEB_PASSWORD=" + webPassword,
		"ATOLL_API_SECRET=" + apiSecret,
		"ATOLL_REDIS_PASSWORD=" + redisPass,
		"ATLANTIS_GH_TOKEN=" + e2eToken,
		"DEPLOY_TOKEN=" + userToken,
		"AWS_ACCESS_KEY_ID=" + awsKey,
		"TF_VAR_canary=visible-to-terraform",
	}, reposYAML)
	repo := networkRepo(t, gh, "infra", t.TempDir())
	sha, pr := openPR(t, gh, repo, "leak", map[string]string{
		"atoll.yaml": `version: 3
projects:
- dir: network
  workflow: leaky
workflows:
  leaky:
    plan:
      steps:
      - run: env | sort
      - init
      - plan
`,
		"network/leak.tf": "variable \"canary\" {\n  type = string\n}\n\noutput \"environ\" {\n  value = replace(file(\"/proc/self/environ\"), \"\\u0000\", \"\\n\")\n}\n\noutput \"canary\" {\n  value = var.canary\n}\n",
	}, "alice")
	waitComment(t, gh, repo, pr, "Plan: 1 to add")
	auth := map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("atoll:"+webPassword))}
	waitFor(t, func() bool {
		_, body := httpDo(t, http.MethodGet, atoll.URL+"/api/jobs", nil, auth)
		return strings.Contains(body, `"state":"succeeded"`) && !strings.Contains(body, `"state":"running"`)
	}, "the plan job to finish")
	_, jobsJSON := httpDo(t, http.MethodGet, atoll.URL+"/api/jobs", nil, auth)
	var jobs struct {
		Jobs []struct{ ID string } `json:"jobs"`
	}
	if err := json.Unmarshal([]byte(jobsJSON), &jobs); err != nil || len(jobs.Jobs) == 0 {
		t.Fatalf("GET /api/jobs = %s (%v)", jobsJSON, err)
	}
	readable := map[string]string{"comments": joinBodies(gh, repo, pr), "api jobs": jobsJSON}
	for _, j := range jobs.Jobs {
		_, readable["job page "+j.ID] = httpDo(t, http.MethodGet, atoll.URL+"/jobs/"+j.ID, nil, auth)
		_, readable["job log "+j.ID] = httpDo(t, http.MethodGet, atoll.URL+"/jobs/"+j.ID+"/log", nil, auth)
	}
	var statuses strings.Builder
	for _, st := range gh.Statuses(repo, sha) {
		statuses.WriteString(st.Description + " " + st.TargetURL + "\n")
	}
	readable["statuses"] = statuses.String()
	atoll.Stop()
	readable["server log"] = atoll.log.String()

	logs := readable["job log "+jobs.Jobs[0].ID]
	// The steps really printed their environment (or the test proves nothing).
	for _, want := range []string{"TF_VAR_canary=visible-to-terraform", "DEPLOY_TOKEN=[redacted]", "AWS_ACCESS_KEY_ID=[redacted]"} {
		if !strings.Contains(logs, want) {
			t.Errorf("job log lacks %q: the run step did not print the environment as expected:\n%s", want, logs)
		}
	}
	if !strings.Contains(readable["comments"], "visible-to-terraform") {
		t.Errorf("the plan comment does not show terraform's environment output:\n%s", readable["comments"])
	}
	for where, text := range readable {
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("%s shows a secret (%.10s...)", where, s)
			}
		}
		// Atoll's own settings never reach a child process at all.
		if where != "server log" {
			for _, name := range []string{"ATOLL_GH_TOKEN", "ATOLL_WEB_PASSWORD", "ATOLL_API_SECRET", "ATLANTIS_GH_TOKEN", "ATOLL_REDIS_PASSWORD"} {
				if strings.Contains(text, name) {
					t.Errorf("%s shows %s: Atoll's settings reached a child process", where, name)
				}
			}
		}
	}
	assertNoSecretsOnDisk(t, dataDir, secrets)
	if lines := logLines(readable["server log"], "given on the command line"); len(lines) != 0 {
		t.Errorf("secrets from the environment were reported as command-line flags: %q", lines)
	}
}

// `atoll server` refuses to start without a webhook secret, unless told it
// may accept unsigned webhooks, which it then logs as unsafe.
func TestE2ESecurityWebhookSecretRequired(t *testing.T) {
	t.Parallel()
	gh := fakeGitHub(t)
	cmd := exec.Command(atollBinary(t), "server", "--port", "0", "--data-dir", t.TempDir(), "--gh-api-url", gh.APIURL(),
		"--repo-allowlist", "github.com/acme/*", "--tf-binary", testenv.Terraform(t))
	cmd.Env = append(testenv.TerraformEnv(t), "ATOLL_GH_TOKEN="+e2eToken)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || !strings.Contains(string(out), "--gh-webhook-secret is required") || !strings.Contains(string(out), "--allow-unsigned-webhooks") {
		t.Errorf("atoll server without a webhook secret = %v:\n%s\nwant an exit naming --gh-webhook-secret and --allow-unsigned-webhooks", err, out)
	}

	atoll := startAtoll(t, gh, t.TempDir(), "--gh-webhook-secret=", "--allow-unsigned-webhooks", "--api-secret", "flag-secret-0123456")
	if lines := logLines(atoll.log.String(), "UNSAFE: --allow-unsigned-webhooks"); len(lines) != 1 {
		t.Errorf("start-up log does not warn about unsigned webhooks:\n%s", atoll.log.String())
	}
	// A secret on the command line is readable by every process from /proc.
	if lines := logLines(atoll.log.String(), "given on the command line"); len(lines) != 1 || !strings.Contains(lines[0], "--api-secret") || strings.Contains(lines[0], "flag-secret-0123456") {
		t.Errorf("start-up log does not warn (once, without the value) about --api-secret on the command line: %q", lines)
	}
}

// A forged payload's URLs are never used: the token goes only to the
// configured GitHub, and a replayed signed body runs once, even under a new
// delivery ID and after a restart.
func TestE2ESecurityForgedURLsAndReplays(t *testing.T) {
	t.Parallel()
	gh := fakeGitHub(t)
	var stolen atomic.Int32
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		stolen.Add(1)
		http.Error(w, "nothing here", http.StatusNotFound)
	}))
	t.Cleanup(evil.Close)
	dataDir := t.TempDir()
	atoll := startAtoll(t, gh, dataDir)
	repo := networkRepo(t, gh, "infra", t.TempDir())
	_, pr := openPR(t, gh, repo, "subnet", map[string]string{
		"network/subnet.tf": "resource \"terraform_data\" \"subnet\" {\n  input = \"10.0.1.0/24\"\n}\n",
	}, "alice")
	waitComment(t, gh, repo, pr, "Plan: 2 to add")

	// A signed issue_comment whose repository URLs point at the attacker.
	body := forgedComment(t, repo, pr, "bob", "atoll plan -d network", evil.URL)
	code, answer, err := gh.SendRawWebhook(waitCtx(t), "issue_comment", body, vcstest.SignWithSecret)
	if err != nil || code != http.StatusAccepted {
		t.Fatalf("forged-URL comment = %d %s (%v), want 202", code, answer, err)
	}
	waitFor(t, func() bool { return countComments(gh, repo, pr, "Plan: 2 to add") == 2 }, "the second plan")
	if n := stolen.Load(); n != 0 {
		t.Errorf("the attacker's server got %d requests: a payload URL was used", n)
	}
	for _, c := range gh.Comments(repo, pr) {
		if strings.Contains(c.Body, evil.URL) {
			t.Errorf("a comment links to the payload's URL:\n%s", c.Body)
		}
	}

	// The same signed body again, under a new delivery ID: ignored.
	code, answer, err = gh.SendRawWebhook(waitCtx(t), "issue_comment", body, vcstest.SignWithSecret)
	if err != nil || code != http.StatusOK || !strings.Contains(string(answer), "already handled") {
		t.Errorf("replayed body = %d %s (%v), want 200 already handled", code, answer, err)
	}
	// ... and after a restart on the same data dir.
	atoll.Stop()
	atoll = startAtoll(t, gh, dataDir)
	code, answer, err = gh.SendRawWebhook(waitCtx(t), "issue_comment", body, vcstest.SignWithSecret)
	if err != nil || code != http.StatusOK || !strings.Contains(string(answer), "already handled") {
		t.Errorf("replayed body after a restart = %d %s (%v), want 200 already handled", code, answer, err)
	}
	if n := countComments(gh, repo, pr, "Plan: 2 to add"); n != 2 {
		t.Errorf("%d plan comments, want 2: a replay ran", n)
	}
	_ = atoll
}

// forgedComment is an issue_comment payload on pull request num of repo whose
// every URL points at evilURL.
func forgedComment(t *testing.T, repo vcs.Repo, num int, user, text, evilURL string) []byte {
	t.Helper()
	ev := github.IssueCommentEvent{
		Action: github.String("created"),
		Issue: &github.Issue{Number: github.Int(num), HTMLURL: github.String(evilURL + "/pull"),
			PullRequestLinks: &github.PullRequestLinks{HTMLURL: github.String(evilURL + "/pull"), URL: github.String(evilURL + "/api/pull")},
			User:             &github.User{Login: github.String("alice")}},
		Comment: &github.IssueComment{ID: github.Int64(987654), Body: github.String(text), User: &github.User{Login: github.String(user)},
			CreatedAt: &github.Timestamp{Time: time.Now()}},
		Repo: &github.Repository{Name: github.String(repo.Name), FullName: github.String(repo.FullName()),
			Owner:    &github.User{Login: github.String(repo.Owner)},
			CloneURL: github.String(evilURL + "/" + repo.FullName() + ".git"), HTMLURL: github.String(evilURL),
			URL: github.String(evilURL + "/api"), GitURL: github.String(evilURL), SSHURL: github.String(evilURL)},
		Sender: &github.User{Login: github.String(user)},
	}
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestE2ESecurityBadInputs sends what an attacker or a careless user would and
// checks each gets its exact answer while nothing runs: no plan beyond the
// PR's autoplan, no lock taken.
func TestE2ESecurityBadInputs(t *testing.T) {
	t.Parallel()
	gh := fakeGitHub(t)
	atoll := startAtoll(t, gh, t.TempDir())
	ctx := waitCtx(t)
	repo, err := gh.CreateRepo(ctx, "acme", "infra", map[string]string{
		"network/main.tf": "resource \"terraform_data\" \"vpc\" {\n  input = \"10.0.0.0/16\"\n}\n",
		"etc":             vcstest.Symlink("/etc"),
		"up":              vcstest.Symlink("../.."),
	})
	if err != nil {
		t.Fatal(err)
	}
	// A PR that changes no Terraform project: autoplan plans nothing, so any
	// plan output below would come from a bad input.
	_, pr := openPR(t, gh, repo, "docs", map[string]string{"README.md": "docs\n"}, "alice")
	waitFor(t, func() bool {
		_, body := httpDo(t, http.MethodGet, atoll.URL+"/api/jobs", nil, nil)
		return strings.Contains(body, `"state":"succeeded"`)
	}, "the autoplan job")

	// Webhooks.
	valid := forgedComment(t, repo, pr, "bob", "atoll help", gh.URL())
	badName := strings.Replace(string(valid), `"name":"infra"`, `"name":"../../etc"`, 1)
	webhooks := []struct {
		name  string
		event string
		body  []byte
		sign  vcstest.SignMode
		code  int
		says  string
	}{
		{"unsigned", "issue_comment", valid, vcstest.SignNone, http.StatusUnauthorized, "signature does not verify"},
		{"wrongly signed", "issue_comment", valid, vcstest.SignWrongSecret, http.StatusUnauthorized, "signature does not verify"},
		{"malformed JSON", "issue_comment", []byte(`{"action":`), vcstest.SignWithSecret, http.StatusBadRequest, "malformed webhook"},
		{"not an object", "issue_comment", []byte(`["atoll apply"]`), vcstest.SignWithSecret, http.StatusBadRequest, "malformed webhook"},
		{"no event header", "", valid, vcstest.SignWithSecret, http.StatusBadRequest, "malformed webhook"},
		{"path in repo name", "issue_comment", []byte(badName), vcstest.SignWithSecret, http.StatusBadRequest, "malformed webhook"},
	}
	for _, w := range webhooks {
		code, answer, err := gh.SendRawWebhook(ctx, w.event, w.body, w.sign)
		if err != nil || code != w.code || !strings.Contains(string(answer), w.says) {
			t.Errorf("%s webhook = %d %q (%v), want %d %q", w.name, code, answer, err, w.code, w.says)
		}
	}
	// Oversized: more than GitHub's 25 MiB, refused before it is read whole.
	big := strings.NewReader(`{"pad":"` + strings.Repeat("a", 26<<20) + `"}`)
	if code, body := httpDo(t, http.MethodPost, atoll.URL+"/events", big, map[string]string{"X-GitHub-Event": "issue_comment", "Content-Type": "application/json"}); code != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized webhook = %d %q, want 413", code, body)
	}

	// Comments: each gets one answer naming the problem.
	comments := []struct {
		user, body string
		says       string
	}{
		{"mallory", "atoll apply", "@mallory may not run `atoll apply`"},
		{"mallory", "atlantis plan -d network", "@mallory may not run `atoll plan`"},
		{"bob", "atoll plan -d ../../etc", `leaves the repository`},
		{"bob", "atoll plan -d /etc", `must be relative to the repository root`},
		{"bob", "atoll plan -d network/../..", `leaves the repository`},
		{"bob", "atoll plan -d `id`", "does not accept"},
		{"bob", "atoll plan -d 'network;rm -rf /'", "does not exist in the repository"},
		{"bob", "atoll plan -d $(id)", "directory `$(id)` does not exist in the repository"},
		{"bob", "atoll plan -- -chdir=/tmp", "terraform flag -chdir is not allowed"},
		{"bob", "atoll plan -- -var-file=/etc/passwd", "-var-file"},
		{"bob", "atoll plan -- -state=/tmp/x", "terraform flag -state is not allowed"},
		{"bob", "atoll apply -- -auto-approve", "apply runs exactly the reviewed plan"},
		{"bob", "atoll plan --frobnicate", "`atoll plan: flag provided but not defined: -frobnicate`"},
		{"bob", "atoll plan -d @acme/admins", "directory `@acme/admins` does not exist in the repository"},
		{"bob", "atoll destroy", "unknown command"},
		{"bob", "atoll plan -d etc", "directory `etc` does not exist in the repository"},
		{"bob", "atoll plan -d up", "directory `up` does not exist in the repository"},
	}
	for _, c := range comments {
		before := len(gh.Comments(repo, pr))
		comment(t, gh, repo, pr, c.user, c.body)
		// The comment itself is recorded first; the bot's answer follows.
		waitFor(t, func() bool { return len(gh.Comments(repo, pr)) > before+1 }, "an answer to "+c.body)
		got := gh.Comments(repo, pr)[before+1:]
		if len(got) != 1 || !strings.Contains(got[0].Body, c.says) {
			var bodies []string
			for _, g := range got {
				bodies = append(bodies, g.Body)
			}
			t.Errorf("%s commenting %q got %d answers, want one saying %q:\n%s", c.user, c.body, len(got), c.says, strings.Join(bodies, "\n---\n"))
		}
	}
	assertNoPlanRan(t, gh, repo, pr)

	// Files of a pull request that the server itself reads: a repo config
	// that is a symlink to /dev/zero (once enough to exhaust the server's
	// memory), one that leaves the repository, and a YAML alias bomb. Each
	// PR gets a refusal naming the file; the server stays up.
	bomb := "version: 3\na: &a [\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\"]\n"
	prev := "a"
	for _, n := range []string{"b", "c", "d", "e", "f", "g", "h", "i"} {
		bomb += n + ": &" + n + " [*" + prev + ",*" + prev + ",*" + prev + ",*" + prev + ",*" + prev + ",*" + prev + ",*" + prev + ",*" + prev + ",*" + prev + "]\n"
		prev = n
	}
	for _, tc := range []struct {
		branch string
		files  map[string]string
		says   []string
	}{
		{"zero", map[string]string{"atlantis.yaml": vcstest.Symlink("/dev/zero"), "network/x.tf": "locals {}\n"}, []string{"`atlantis.yaml`", "atlantis.yaml: is a symbolic link that leaves the repository"}},
		{"passwd", map[string]string{"atoll.yaml": vcstest.Symlink("../../../../../../etc/passwd"), "network/x.tf": "locals {}\n"}, []string{"`atoll.yaml`", "leaves the repository"}},
		{"bomb", map[string]string{"atoll.yaml": bomb, "network/x.tf": "locals {}\n"}, []string{"`atoll.yaml`", "atoll.yaml:"}},
	} {
		_, num := openPR(t, gh, repo, tc.branch, tc.files, "alice")
		c := waitComment(t, gh, repo, num, "is not valid, so nothing ran")
		for _, want := range tc.says {
			if !strings.Contains(c.Body, want) {
				t.Errorf("%s: refusal lacks %q:\n%s", tc.branch, want, c.Body)
			}
		}
		assertNoPlanRan(t, gh, repo, num)
	}
	if code, _ := httpDo(t, http.MethodGet, atoll.URL+"/healthz", nil, nil); code != http.StatusOK {
		t.Errorf("server unhealthy after hostile repo files: %d", code)
	}
	assertNoLocks(t, atoll)
}
