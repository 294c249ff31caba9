package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/atollhq/atoll/vcs"
)

// A step that runs too long is stopped: the comment says which step timed
// out, the job ends (freeing its worker), and the PR keeps its lock.
func TestE2EStepTimeout(t *testing.T) {
	t.Parallel()
	gh := fakeGitHub(t)
	atoll := startAtoll(t, gh, t.TempDir(), "--step-timeout=2s", "--kill-grace=1s", writeReposYAML(t, `repos:
- id: /.*/
  workflow: slow
workflows:
  slow:
    plan:
      steps:
      - run: sleep 60
      - init
      - plan
`))
	repo := networkRepo(t, gh, "infra", t.TempDir())
	start := time.Now()
	_, pr := openPR(t, gh, repo, "subnet", map[string]string{
		"network/subnet.tf": "resource \"terraform_data\" \"subnet\" {\n  input = \"10.0.1.0/24\"\n}\n",
	}, "alice")
	c := waitComment(t, gh, repo, pr, "timed out after 2s")
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("the timed-out plan took %s to report", took)
	}
	if strings.Contains(c.Body, "Plan: ") {
		t.Errorf("a plan ran after the timed-out step:\n%s", c.Body)
	}
	waitFor(t, func() bool {
		_, body := httpDo(t, http.MethodGet, atoll.URL+"/api/jobs", nil, nil)
		return strings.Contains(body, `"state":"failed"`) && !strings.Contains(body, `"state":"running"`)
	}, "the job to end")
	if _, body := httpDo(t, http.MethodGet, atoll.URL+"/api/locks", nil, nil); !strings.Contains(body, `"dir":"network"`) {
		t.Errorf("the PR lost its lock when its step timed out: %s", body)
	}
}

// A GitHub endpoint that never answers does not hold a job forever: the call
// times out after --gh-timeout and the job ends with an error saying what it
// could not read.
func TestE2EHungGitHub(t *testing.T) {
	t.Parallel()
	gh := fakeGitHub(t)
	target, err := url.Parse(gh.URL())
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	var hung atomic.Int32
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// An autoplan reads the pull request from its webhook; its first
		// GitHub read is the list of changed files.
		if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/pulls/1/files") {
			hung.Add(1)
			<-r.Context().Done() // never answers
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	atoll := startAtoll(t, gh, t.TempDir(), "--gh-api-url", front.URL+"/api/v3/", "--gh-timeout=2s")
	repo := networkRepo(t, gh, "infra", t.TempDir())
	start := time.Now()
	openPR(t, gh, repo, "subnet", map[string]string{"network/subnet.tf": "locals {}\n"}, "alice")
	waitFor(t, func() bool {
		_, body := httpDo(t, http.MethodGet, atoll.URL+"/api/jobs", nil, nil)
		return strings.Contains(body, `"state":"failed"`)
	}, "the job to fail")
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("the job took %s to give up on a hung GitHub", took)
	}
	if hung.Load() == 0 {
		t.Fatal("the hung endpoint was never called")
	}
	_, jobs := httpDo(t, http.MethodGet, atoll.URL+"/api/jobs", nil, nil)
	id := jobs[strings.Index(jobs, `"id":"`)+6:]
	id = id[:strings.IndexByte(id, '"')]
	if _, log := httpDo(t, http.MethodGet, atoll.URL+"/jobs/"+id+"/log", nil, nil); !strings.Contains(log, "GitHub did not answer in time (see --gh-timeout), so the changed files of pull request #1 could not be read") {
		t.Errorf("job log does not say GitHub timed out:\n%s", log)
	}
}

// slowOnce is a run step that sleeps once (until killed) and passes straight
// through every later time: the sleep replaces the shell, so it is the
// server's direct child.
func slowOnce(marker string) string {
	return fmt.Sprintf("test -f %s || { touch %s; exec sleep 61.37; }", marker, marker)
}

// noSleeper checks that no `sleep 61.37` outlived the server.
func noSleeper(t *testing.T) {
	t.Helper()
	waitFor(t, func() bool { return !processRunning(t, "sleep\x0061.37") }, "the step's process to die with the server")
}

// processRunning reports whether a live process's command line (arguments
// joined by NUL) contains cmdline, reading /proc.
func processRunning(t *testing.T, cmdline string) bool {
	t.Helper()
	procs, err := filepath.Glob("/proc/[0-9]*/cmdline")
	if err != nil || len(procs) == 0 {
		t.Fatalf("cannot list processes in /proc: %v", err)
	}
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err == nil && strings.Contains(string(b), cmdline) {
			return true
		}
	}
	return false
}

// kill -9 in the middle of a plan, then a restart on the same data dir: the
// plan runs again from scratch, the cut-off comment says what happened, the
// status is settled, and the step's process died with the server.
func TestE2ECrashMidPlan(t *testing.T) {
	gh := fakeGitHub(t)
	dataDir, marker := t.TempDir(), filepath.Join(t.TempDir(), "slept")
	reposYAML := writeReposYAML(t, fmt.Sprintf("repos:\n- id: /.*/\n  workflow: slow\nworkflows:\n  slow:\n    plan:\n      steps:\n      - run: %q\n      - init\n      - plan\n", slowOnce(marker)))
	atoll := startAtoll(t, gh, dataDir, reposYAML)
	repo := networkRepo(t, gh, "infra", t.TempDir())
	sha, pr := openPR(t, gh, repo, "subnet", map[string]string{
		"network/subnet.tf": "resource \"terraform_data\" \"subnet\" {\n  input = \"10.0.1.0/24\"\n}\n",
	}, "alice")
	waitFor(t, func() bool { _, err := os.Stat(marker); return err == nil }, "the slow step to start")
	running := waitComment(t, gh, repo, pr, "network")
	waitFor(t, func() bool { return processRunning(t, "sleep\x0061.37") }, "the slow step's sleep")
	// The job journals a comment's ID just after GitHub answers its
	// creation: a kill in those milliseconds leaves that comment to the
	// new plan's comment alone (a known gap, docs/server.md). Give the
	// journal write its moment so the test checks the edit.
	time.Sleep(500 * time.Millisecond)
	atoll.Kill()
	noSleeper(t)
	if st := gh.Statuses(repo, sha); len(st) == 0 || st[len(st)-1].State != vcs.StatusPending {
		t.Fatalf("before the restart the plan status is %+v, want pending (the crash left it so)", st)
	}

	startAtoll(t, gh, dataDir, reposYAML)
	waitComment(t, gh, repo, pr, "Plan: 2 to add, 0 to change, 0 to destroy.")
	waitStatus(t, gh, repo, sha, "atoll/plan", vcs.StatusSuccess)
	for _, c := range gh.Comments(repo, pr) {
		if c.ID == running.ID && !strings.Contains(c.Body, "Atoll stopped while running this (the server restarted); it runs again") {
			t.Errorf("the cut-off comment was not edited to say what happened:\n%s", c.Body)
		}
	}
}

// kill -9 in the middle of an apply: after the restart the apply is not run
// again; its status is error and a comment says what may be partial and what
// to do next.
func TestE2ECrashMidApply(t *testing.T) {
	gh := fakeGitHub(t)
	dataDir, marker := t.TempDir(), filepath.Join(t.TempDir(), "slept")
	reposYAML := writeReposYAML(t, fmt.Sprintf("repos:\n- id: /.*/\n  workflow: slow\nworkflows:\n  slow:\n    apply:\n      steps:\n      - run: %q\n      - apply\n", slowOnce(marker)))
	atoll := startAtoll(t, gh, dataDir, reposYAML)
	repo := networkRepo(t, gh, "infra", t.TempDir())
	sha, pr := openPR(t, gh, repo, "subnet", map[string]string{
		"network/subnet.tf": "resource \"terraform_data\" \"subnet\" {\n  input = \"10.0.1.0/24\"\n}\n",
	}, "alice")
	waitComment(t, gh, repo, pr, "Plan: 2 to add")
	comment(t, gh, repo, pr, "bob", "atoll apply")
	waitFor(t, func() bool { _, err := os.Stat(marker); return err == nil }, "the slow apply step to start")
	waitFor(t, func() bool { return processRunning(t, "sleep\x0061.37") }, "the slow step's sleep")
	atoll.Kill()
	noSleeper(t)

	atoll = startAtoll(t, gh, dataDir, reposYAML)
	c := waitComment(t, gh, repo, pr, "Atoll stopped while it was running `atoll apply`", "comment `atoll plan` to see what is left")
	waitStatus(t, gh, repo, sha, "atoll/apply", vcs.StatusError)
	// Give a wrongly re-run apply time to show itself.
	time.Sleep(2 * time.Second)
	if n := countComments(gh, repo, pr, "Apply complete"); n != 0 {
		t.Errorf("the apply ran again after the restart (%d comments):\n%s", n, c.Body)
	}
	if _, body := httpDo(t, http.MethodGet, atoll.URL+"/api/locks", nil, nil); !strings.Contains(body, `"dir":"network"`) {
		t.Errorf("the PR lost its lock: %s", body)
	}
}
