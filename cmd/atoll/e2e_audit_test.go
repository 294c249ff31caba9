package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

type auditPage struct {
	Events []struct {
		User, Action, Via, Result, Repo, Dir, Workspace, Commit, Detail string
		Pull                                                            int
		JobID                                                           string `json:"job_id"`
	} `json:"events"`
	Next string `json:"next_cursor"`
}

func getAudit(t *testing.T, url, query string) auditPage {
	t.Helper()
	code, body := httpDo(t, http.MethodGet, url+"/api/audit?"+query, nil, nil)
	var p auditPage
	if err := json.Unmarshal([]byte(body), &p); err != nil || code != http.StatusOK {
		t.Fatalf("GET /api/audit?%s = %d %v\n%s", query, code, err, body)
	}
	return p
}

// The audit trail records who planned, applied, was refused and unlocked,
// with the commit and job; /api/audit filters and pages it, and the /audit
// page shows it in a real browser, with its filters.
func TestE2EAuditTrail(t *testing.T) {
	t.Parallel()
	chromium := lookChromium(t)
	gh := fakeGitHub(t)
	atoll := startAtoll(t, gh, t.TempDir())
	repo := networkRepo(t, gh, "infra", t.TempDir())
	sha, pr := openPR(t, gh, repo, "subnet", map[string]string{"network/subnet.tf": subnetTF}, "alice")
	waitComment(t, gh, repo, pr, "Plan: 2 to add")
	comment(t, gh, repo, pr, "mallory", "atoll apply")
	waitComment(t, gh, repo, pr, "@mallory may not run `atoll apply`")
	comment(t, gh, repo, pr, "bob", "atoll apply")
	waitComment(t, gh, repo, pr, "Apply complete! Resources: 2 added")
	comment(t, gh, repo, pr, "bob", "atoll unlock")
	waitComment(t, gh, repo, pr, "### Unlocked `network`")

	var all auditPage
	waitFor(t, func() bool { all = getAudit(t, atoll.URL, ""); return len(all.Events) >= 4 }, "four audit entries")
	var got []string
	for _, e := range all.Events {
		got = append(got, e.User+" "+e.Action+" "+e.Result)
	}
	want := []string{"bob unlock released", "bob apply applied", "mallory apply refused", "alice plan planned"}
	if strings.Join(got, ", ") != strings.Join(want, ", ") {
		t.Errorf("audit trail = %v, want %v", got, want)
	}
	applied := all.Events[1]
	if applied.Repo != "github.com/acme/infra" || applied.Pull != pr || applied.Dir != "network" || applied.Workspace != "default" ||
		applied.Commit != sha || applied.JobID == "" || applied.Via != "comment" {
		t.Errorf("apply entry = %+v", applied)
	}
	if r := all.Events[2]; !strings.Contains(r.Detail, "repository permission read is below write") {
		t.Errorf("refusal entry detail = %q", r.Detail)
	}
	if p := getAudit(t, atoll.URL, "user=mallory"); len(p.Events) != 1 || p.Events[0].Action != "apply" {
		t.Errorf("user=mallory = %+v", p.Events)
	}
	if p := getAudit(t, atoll.URL, "action=plan&repo=acme/infra"); len(p.Events) != 1 || p.Events[0].User != "alice" {
		t.Errorf("action=plan = %+v", p.Events)
	}
	first := getAudit(t, atoll.URL, "limit=3")
	rest := getAudit(t, atoll.URL, "limit=3&cursor="+first.Next)
	if len(first.Events) != 3 || first.Next == "" || len(rest.Events) != 1 || rest.Events[0].User != "alice" || rest.Next != "" {
		t.Errorf("pages of 3: %d (next %q), then %+v (next %q)", len(first.Events), first.Next, rest.Events, rest.Next)
	}
	if code, _ := httpDo(t, http.MethodGet, atoll.URL+"/api/audit?from=yesterday", nil, nil); code != http.StatusBadRequest {
		t.Errorf("a bad from= answered %d, want 400", code)
	}

	// The operations metrics are there, with what this test did.
	_, metrics := httpDo(t, http.MethodGet, atoll.URL+"/metrics", nil, nil)
	for _, want := range []string{`atoll_github_requests_total{code="200",endpoint="pulls",method="GET"}`,
		`atoll_github_requests_total{code="201",endpoint="comments",method="POST"}`,
		`atoll_github_rate_limit_remaining{resource="core"} 4999`, "atoll_lock_oldest_age_seconds 0", "atoll_jobs_waiting 0",
		`atoll_job_duration_seconds_count{kind="apply",result="succeeded"} 1`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s:\n%s", want, grepLines(metrics, "atoll_"))
		}
	}

	// The page, in Chromium: four rows, then the user filter.
	cctx := newChromium(t, chromium)
	if err := chromedp.Do(cctx, chromedp.Navigate(atoll.URL+"/audit"), chromedp.WaitVisible(chromedp.CSS("#audit tbody tr"))); err != nil {
		t.Fatalf("open /audit: %v", err)
	}
	rows, err := chromedp.Run(cctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('#audit tbody tr')).map(r => r.innerText.replace(/\s+/g, ' ').trim())`))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 4 || !strings.Contains(rows[1], "bob (comment) apply applied") || !strings.Contains(rows[2], "refused") {
		t.Errorf("audit rows = %q", rows)
	}
	shot, err := chromedp.Run(cctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	saveArtifact(t, "audit-page.png", string(shot))
	if err := chromedp.Do(cctx,
		chromedp.SendKeys(chromedp.CSS(`input[name=user]`), "mallory"),
		chromedp.Click(chromedp.CSS(`.filters button`)),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/audit"]`)), // the Clear link appears with a filter
	); err != nil {
		t.Fatalf("filter by user: %v", err)
	}
	n, err := chromedp.Run(cctx, chromedp.Evaluate[int](`document.querySelectorAll('#audit tbody tr').length`))
	if err != nil || n != 1 {
		t.Errorf("rows after filtering by mallory = %d, %v; want 1", n, err)
	}

	// Jobs filter by state; the pull request's own page has its plan, its
	// jobs and its history.
	var jobs struct {
		Jobs []struct{ User, State string } `json:"jobs"`
	}
	_, body := httpDo(t, http.MethodGet, atoll.URL+"/api/jobs?repo=acme/infra&state=failed", nil, nil)
	if err := json.Unmarshal([]byte(body), &jobs); err != nil || len(jobs.Jobs) != 1 || jobs.Jobs[0].User != "mallory" {
		t.Errorf("failed jobs = %s", body)
	}
	if err := chromedp.Do(cctx, chromedp.Navigate(atoll.URL+"/jobs"), chromedp.Click(chromedp.CSS(`#jobs a[href="/pulls/acme/infra/1"]`), chromedp.NodeVisible),
		chromedp.WaitVisible(chromedp.CSS("#pull-audit"))); err != nil {
		t.Fatalf("follow a job's pull request link to its page: %v", err)
	}
	page, err := chromedp.Run(cctx, chromedp.Evaluate[map[string]any](`({
		title: document.querySelector('h1').innerText,
		plans: document.querySelector('main').innerText.includes('No plans.'),
		applied: document.querySelector('#pull-audit').innerText.replace(/\s+/g, ' '),
		jobs: document.querySelectorAll('#pull-jobs tbody tr').length,
		history: document.querySelectorAll('#pull-audit tbody tr').length,
		locks: document.querySelector('#pull-locks') !== null,
	})`))
	if err != nil {
		t.Fatal(err)
	}
	// `atoll unlock` discarded the plans and released the locks; the jobs
	// and the history remain.
	if !strings.HasPrefix(page["title"].(string), "acme/infra #1") || page["plans"] != true ||
		!strings.Contains(page["applied"].(string), "bob apply applied") || page["jobs"] != float64(4) || page["history"] != float64(4) || page["locks"] != false {
		t.Errorf("pull request page = %v", page)
	}
	shot, err = chromedp.Run(cctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	saveArtifact(t, "pull-page.png", string(shot))
}

// A running job's page shows its output as it comes, in a real browser, and
// stops refreshing once the job ends.
func TestE2EBrowserLiveJobPage(t *testing.T) {
	t.Parallel()
	chromium := lookChromium(t)
	gh := fakeGitHub(t)
	atoll := startAtoll(t, gh, t.TempDir(), writeReposYAML(t, `repos:
- id: /.*/
  workflow: counting
workflows:
  counting:
    plan:
      steps:
      - run: for i in 1 2 3 4 5 6; do echo "counting $i"; sleep 1; done
      - init
      - plan
`))
	repo := networkRepo(t, gh, "infra", t.TempDir())
	openPR(t, gh, repo, "subnet", map[string]string{"network/subnet.tf": subnetTF}, "alice")
	var jobID string
	waitFor(t, func() bool {
		var jobs struct {
			Jobs []struct{ ID, State string } `json:"jobs"`
		}
		_, body := httpDo(t, http.MethodGet, atoll.URL+"/api/jobs?state=running", nil, nil)
		if json.Unmarshal([]byte(body), &jobs) == nil && len(jobs.Jobs) == 1 {
			jobID = jobs.Jobs[0].ID
		}
		return jobID != ""
	}, "the running autoplan job")
	cctx := newChromium(t, chromium)
	read := func() (string, bool) {
		t.Helper()
		// One evaluation, so a reload cannot fall between the two reads; a
		// reload during it is an error, and the caller's wait tries again.
		v, err := chromedp.Run(cctx, chromedp.Evaluate[[]any](`[(document.getElementById('log') || {innerText: ''}).innerText,
			document.querySelector('meta[http-equiv=refresh]') !== null]`))
		if err != nil || len(v) != 2 {
			return "", true
		}
		text, _ := v[0].(string)
		refresh, _ := v[1].(bool)
		return text, refresh
	}
	if err := chromedp.Do(cctx, chromedp.Navigate(atoll.URL+"/jobs/"+jobID)); err != nil {
		t.Fatalf("open the job page: %v", err)
	}
	first, refresh := read()
	if !refresh {
		t.Fatalf("the page of a running job does not refresh itself; log so far:\n%s", first)
	}
	// The browser reloads the page by itself; the log grows without any
	// navigation from the test.
	var later string
	waitFor(t, func() bool {
		later, _ = read()
		return strings.Count(later, "counting") > strings.Count(first, "counting")
	}, "the log to grow in the browser")
	waitFor(t, func() bool { text, refresh := read(); return !refresh && strings.Contains(text, "counting 6") }, "the page to show the finished job and stop refreshing")
	heading, err := chromedp.Run(cctx, chromedp.Text(chromedp.CSS("h1")))
	if err != nil || !strings.Contains(heading, "autoplan on acme/infra #1") {
		t.Errorf("job page heading = %q, %v", heading, err)
	}
}
