package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/atollhq/atoll/testdrive/sandbox"
	"github.com/atollhq/atoll/vcs"
	"github.com/atollhq/atoll/vcs/vcstest"
)

// driftFixture starts Atoll watching acme/infra for drift, with a sandbox
// server "web" (size small) created the GitOps way: a PR, applied, merged.
func driftFixture(t *testing.T, extra ...string) (*vcstest.Server, vcs.Repo, *atollProc, string) {
	t.Helper()
	return driftFixtureFlags(t, append([]string{"--drift-repos", "acme/infra", "--drift-schedule", "@every 1h"}, extra...)...)
}

// driftFixtureFlags is driftFixture with the server's drift flags given.
func driftFixtureFlags(t *testing.T, flags ...string) (*vcstest.Server, vcs.Repo, *atollProc, string) {
	t.Helper()
	gh := fakeGitHub(t)
	ctx := waitCtx(t)
	dir := t.TempDir()
	cloud := filepath.Join(dir, "cloud.json")
	files := map[string]string{
		"README.md": "# drift\n",
		"infra/main.tf": fmt.Sprintf(`terraform {
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
`, filepath.Join(dir, "infra.tfstate"), cloud),
	}
	repo, err := gh.CreateRepo(ctx, "acme", "infra", files)
	if err != nil {
		t.Fatal(err)
	}
	atoll := startAtollEnv(t, gh, t.TempDir(), sandboxEnv(t), flags...)

	// The server is created the GitOps way: a PR, applied, merged.
	web := files["infra/main.tf"] + "\nresource \"sandbox_server\" \"web\" {\n  name = \"web\"\n  size = \"small\"\n}\n"
	sha, err := gh.Push(ctx, repo, "web", map[string]string{"infra/main.tf": web}, "add web")
	if err != nil {
		t.Fatal(err)
	}
	pr, err := gh.OpenPull(ctx, repo, "web", "main", "Web", "alice")
	if err != nil {
		t.Fatal(err)
	}
	waitStatus(t, gh, repo, sha, "atoll/plan", vcs.StatusSuccess)
	if _, err := gh.Comment(ctx, repo, pr, "bob", "atoll apply"); err != nil {
		t.Fatal(err)
	}
	waitComment(t, gh, repo, pr, "Apply complete! Resources: 1 added")
	if err := gh.ClosePull(ctx, repo, pr, true); err != nil {
		t.Fatal(err)
	}

	return gh, repo, atoll, cloud
}

// TestE2EDrift: a server changed outside Terraform is found on the default
// branch, reported as an issue (with the attribute that changed), shown on the
// drift page and in metrics; `atoll apply` on the issue restores Git's state
// and the issue closes itself.
func TestE2EDrift(t *testing.T) {
	t.Parallel()
	gh, repo, atoll, cloud := driftFixture(t)
	ctx := waitCtx(t)
	runCheck := func() {
		t.Helper()
		code, body := httpDo(t, http.MethodPost, atoll.URL+"/api/drift/run?repo=acme/infra", nil, nil)
		if code != http.StatusAccepted {
			t.Fatalf("POST /api/drift/run = %d %s", code, body)
		}
	}
	driftIssue := func() (vcstest.RecordedIssue, bool) {
		for _, is := range gh.Issues(repo) {
			if is.Title == "Drift: acme/infra infra (default)" {
				return is, true
			}
		}
		return vcstest.RecordedIssue{}, false
	}

	// In sync: no issue.
	runCheck()
	waitFor(t, func() bool {
		_, body := httpDo(t, http.MethodGet, atoll.URL+"/api/drift", nil, nil)
		return strings.Contains(body, `"status":"in_sync"`)
	}, "an in-sync drift result")
	if _, ok := driftIssue(); ok {
		t.Fatal("a drift issue was opened for a project in sync")
	}

	// Someone resizes the server in the console.
	if err := sandbox.SetAttribute(cloud, "web", "size", "large"); err != nil {
		t.Fatal(err)
	}
	runCheck()
	var issue vcstest.RecordedIssue
	waitFor(t, func() bool { var ok bool; issue, ok = driftIssue(); return ok && issue.State == "open" }, "the drift issue")
	for _, want := range []string{"1 resource changed outside Terraform: `sandbox_server.web` (`size`: `\"small\"` in Git, `\"large\"` in reality)",
		"comment `atoll apply` here", "of `main`"} {
		if !strings.Contains(issue.Body, want) {
			t.Errorf("drift issue lacks %q:\n%s", want, issue.Body)
		}
	}
	if !strings.Contains(strings.Join(issue.Labels, ","), "atoll-drift") {
		t.Errorf("drift issue labels = %v", issue.Labels)
	}
	_, metrics := httpDo(t, http.MethodGet, atoll.URL+"/metrics", nil, nil)
	if !strings.Contains(metrics, `atoll_drift_detected{project="infra",repo="acme/infra",workspace="default"} 1`) {
		t.Errorf("drift gauge not 1:\n%s", grep(metrics, "atoll_drift"))
	}
	if _, page := httpDo(t, http.MethodGet, atoll.URL+"/drift", nil, nil); !strings.Contains(page, "drifted") {
		t.Errorf("drift page does not show the drift:\n%s", page)
	}

	// `atoll drift`, the one-shot check for cron jobs and CI, exits 2 on drift.
	oneShot := execCommand(t, atollBinary(t), "drift", "--drift-repos", "acme/infra", "--data-dir", t.TempDir(),
		"--gh-api-url", gh.APIURL(), "--gh-user", gh.BotUser(), "--repo-allowlist", "*", "--tf-binary", terraformPath(t))
	oneShot.Env = append(append(oneShot.Env, "ATOLL_GH_TOKEN="+e2eToken), sandboxEnv(t)...)
	out, err := oneShot.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 || !strings.Contains(string(out), "acme/infra infra (default)") || !strings.Contains(string(out), "drifted") {
		t.Errorf("atoll drift = %v, want exit 2 naming the drift:\n%s", err, out)
	}

	// A second check updates the same issue instead of opening another.
	runCheck()
	waitFor(t, func() bool {
		_, body := httpDo(t, http.MethodGet, atoll.URL+"/api/jobs", nil, nil)
		return strings.Count(body, `"command":"drift_check","repo":"acme/infra"`) >= 3 && !strings.Contains(body, `"state":"running"`)
	}, "the third drift check")
	if n := len(gh.Issues(repo)); n != 1 {
		t.Errorf("%d issues after two drifted checks, want 1", n)
	}

	// `atoll apply` on the issue restores Git's state; the issue closes itself.
	if _, err := gh.CommentOnIssue(ctx, repo, issue.Num, "bob", "atoll apply"); err != nil {
		t.Fatal(err)
	}
	waitComment(t, gh, repo, issue.Num, "Apply complete! Resources: 0 added, 1 changed, 0 destroyed.")
	waitFor(t, func() bool { is, _ := driftIssue(); return is.State == "closed" }, "the drift issue to close")
	servers, err := sandbox.Servers(cloud)
	if err != nil || servers["web"].Size != "small" {
		t.Errorf("after remediation the server is %+v (%v), want size small", servers["web"], err)
	}
	if is, _ := driftIssue(); !strings.Contains(is.Body, "Back in sync") {
		t.Errorf("closed issue body:\n%s", is.Body)
	}

	// Drift that comes back reopens the same issue rather than opening another.
	if err := sandbox.RemoveServer(cloud, "web"); err != nil {
		t.Fatal(err)
	}
	runCheck()
	waitFor(t, func() bool { is, _ := driftIssue(); return is.State == "open" }, "the drift issue to reopen")
	reopened, _ := driftIssue()
	if reopened.Num != issue.Num || len(gh.Issues(repo)) != 1 {
		t.Errorf("drift came back as issue #%d (%d issues), want #%d reopened", reopened.Num, len(gh.Issues(repo)), issue.Num)
	}
	if !strings.Contains(reopened.Body, "`sandbox_server.web` (deleted outside Terraform)") {
		t.Errorf("reopened issue body:\n%s", reopened.Body)
	}
}

// TestE2EDriftAutoRemediate: with --drift-auto-remediate a check that finds
// drift restores Git's state by itself and the issue closes.
func TestE2EDriftAutoRemediate(t *testing.T) {
	t.Parallel()
	gh, repo, atoll, cloud := driftFixture(t, "--drift-auto-remediate")
	if err := sandbox.SetAttribute(cloud, "web", "size", "large"); err != nil {
		t.Fatal(err)
	}
	if code, body := httpDo(t, http.MethodPost, atoll.URL+"/api/drift/run?repo=acme/infra", nil, nil); code != http.StatusAccepted {
		t.Fatalf("POST /api/drift/run = %d %s", code, body)
	}
	var issue vcstest.RecordedIssue
	waitFor(t, func() bool {
		for _, is := range gh.Issues(repo) {
			if strings.HasPrefix(is.Title, "Drift: ") && is.State == "closed" {
				issue = is
				return true
			}
		}
		return false
	}, "the drift issue to be opened, remediated and closed")
	c := waitComment(t, gh, repo, issue.Num, "Apply complete! Resources: 0 added, 1 changed, 0 destroyed.", "--drift-auto-remediate")
	if strings.Contains(c.Body, "merge this pull request") {
		t.Errorf("remediation comment tells to merge a pull request:\n%s", c.Body)
	}
	if servers, err := sandbox.Servers(cloud); err != nil || servers["web"].Size != "small" {
		t.Errorf("after auto-remediation the server is %+v (%v), want size small", servers["web"], err)
	}
}

// TestE2EDriftFromReposYAML: with no --drift-repos, a repos.yaml drift block
// (@every 5s, report to an issue and the atoll/drift status, remediate:
// apply) checks every repository Atoll has had a webhook from: drift is
// found on schedule, restored by itself, and its issue closes; the default
// branch's head carries atoll/drift.
func TestE2EDriftFromReposYAML(t *testing.T) {
	t.Parallel()
	gh, repo, atoll, cloud := driftFixtureFlags(t, writeReposYAML(t, `repos:
- id: /.*/
  drift:
    schedule: "@every 5s"
    projects: ["infra"]
    report: [issue, status]
    remediate: apply
`))
	waitFor(t, func() bool { return strings.Contains(atoll.log.String(), "drift checks scheduled") }, "the repository seen to be scheduled")
	// In sync first: the status says so, and no issue is open (a check that
	// ran between the apply and the merge saw the change as "in Git but not
	// applied" and its issue has closed itself since).
	head, err := gh.Push(waitCtx(t), repo, "main", map[string]string{"README.md": "# drift, checked by repos.yaml\n"}, "readme")
	if err != nil {
		t.Fatal(err)
	}
	st := waitStatus(t, gh, repo, head, "atoll/drift", vcs.StatusSuccess)
	if st.Description != "1 project(s) in sync" {
		t.Errorf("atoll/drift = %+v", st)
	}
	for _, is := range gh.Issues(repo) {
		if is.State != "closed" {
			t.Fatalf("issue open while in sync: %+v", is)
		}
	}

	// Someone resizes the server in the console: the next check finds it,
	// restores Git's state, and the issue closes itself.
	if err := sandbox.SetAttribute(cloud, "web", "size", "large"); err != nil {
		t.Fatal(err)
	}
	var issue vcstest.RecordedIssue
	waitFor(t, func() bool {
		for _, is := range gh.Issues(repo) {
			if is.Title == "Drift: acme/infra infra (default)" {
				issue = is
				return countComments(gh, repo, is.Num, "`remediate: apply`") > 0
			}
		}
		return false
	}, "the drift to be found and remediated")
	waitComment(t, gh, repo, issue.Num, "Apply complete! Resources: 0 added, 1 changed, 0 destroyed.", "`remediate: apply`")
	waitFor(t, func() bool {
		for _, is := range gh.Issues(repo) {
			if is.Num == issue.Num {
				return is.State == "closed"
			}
		}
		return false
	}, "the drift issue to close itself")
	if servers, err := sandbox.Servers(cloud); err != nil || servers["web"].Size != "small" {
		t.Errorf("after remediation the server is %+v (%v), want size small", servers["web"], err)
	}
	if n := len(gh.Issues(repo)); n != 1 {
		t.Errorf("%d issues, want the one", n)
	}
	var sawFailure bool
	for _, s := range gh.Statuses(repo, head) {
		sawFailure = sawFailure || (s.Context == "atoll/drift" && s.State == vcs.StatusFailure && s.Description == "drift in infra")
	}
	if !sawFailure {
		t.Errorf("atoll/drift never said \"drift in infra\": %+v", gh.Statuses(repo, head))
	}
	// The drift API and page show the project's history: in sync, drifted,
	// then in sync again.
	_, body := httpDo(t, http.MethodGet, atoll.URL+"/api/drift", nil, nil)
	var api struct {
		Results []struct {
			Project string `json:"project"`
			History []struct {
				Status string `json:"status"`
			} `json:"history"`
		} `json:"results"`
	}
	if err := json.Unmarshal([]byte(body), &api); err != nil || len(api.Results) != 1 {
		t.Fatalf("GET /api/drift: %v\n%s", err, body)
	}
	var seq []string
	for _, c := range api.Results[0].History {
		if len(seq) == 0 || seq[len(seq)-1] != c.Status {
			seq = append(seq, c.Status)
		}
	}
	if !strings.Contains(strings.Join(seq, ","), "in_sync,drifted,in_sync") {
		t.Errorf("drift history %v, want in_sync, drifted, in_sync in order", seq)
	}
	_, page := httpDo(t, http.MethodGet, atoll.URL+"/drift", nil, nil)
	if !strings.Contains(page, `class="tick tick-drifted"`) || !strings.Contains(page, `class="tick tick-in_sync"`) {
		t.Errorf("drift page lacks the history timeline:\n%s", page)
	}
	saveArtifact(t, "drift-page.html", page)
	if _, jobs := httpDo(t, http.MethodGet, atoll.URL+"/jobs", nil, nil); !strings.Contains(jobs, "scheduled check of <code>main</code>") {
		t.Errorf("the jobs page does not name scheduled drift checks:\n%s", jobs)
	}
	// The drift page and API know the repository though it is in no flag.
	if code, body := httpDo(t, http.MethodPost, atoll.URL+"/api/drift/run?repo=acme/infra", nil, nil); code != http.StatusAccepted {
		t.Errorf("POST /api/drift/run for a repos.yaml repository = %d %s", code, body)
	}
}

// saveArtifact writes a page a test produced to $ATOLL_E2E_ARTIFACTS, when
// set, for a person to look at (for example with chromium --screenshot).
func saveArtifact(t *testing.T, name, body string) {
	t.Helper()
	dir := os.Getenv("ATOLL_E2E_ARTIFACTS")
	if dir == "" {
		return
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
		t.Errorf("save %s: %v", name, err)
	}
}
