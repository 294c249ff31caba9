package main

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
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
		if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/pulls/1") {
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
	if _, log := httpDo(t, http.MethodGet, atoll.URL+"/jobs/"+id+"/log", nil, nil); !strings.Contains(log, "GitHub did not answer in time (see --gh-timeout), so pull request #1 could not be read") {
		t.Errorf("job log does not say GitHub timed out:\n%s", log)
	}
}
