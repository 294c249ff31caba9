package main

import (
	"net/http"
	"strings"
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
