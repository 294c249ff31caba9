package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/atollhq/atoll/internal/testenv"
	"github.com/atollhq/atoll/testdrive"
	"github.com/atollhq/atoll/vcs"
)

// slowReposYAML makes every plan sleep first, so a test can stop a replica in
// the middle of one.
const slowReposYAML = `repos:
- id: /.*/
  workflow: slow
workflows:
  slow:
    plan:
      steps:
      - run: echo starting slow plan; sleep 4
      - init
      - plan
`

// TestE2ETwoReplicasShareRedis runs two atoll servers on one Redis: a replica
// killed mid-plan has its job taken over, a plan made on one replica is applied
// by the other, and locks of a PR closed while every replica was down are
// released by the reconciler on start-up.
func TestE2ETwoReplicasShareRedis(t *testing.T) {
	t.Parallel()
	gh := fakeGitHub(t)
	ctx := waitCtx(t)
	redisAddr := testenv.RedisServer(t)
	flags := append(redisFlags(t, redisAddr), "--cluster-lease=2s", writeReposYAML(t, slowReposYAML), "--lock-reconcile-interval=1h")
	dirA, dirB := t.TempDir(), t.TempDir()
	stateDir := t.TempDir()
	files := testdrive.SampleFiles(stateDir)
	repo, err := gh.CreateRepo(ctx, "acme", "infra", files)
	if err != nil {
		t.Fatal(err)
	}

	// 1. Replica A takes the autoplan job and is killed in the middle of it.
	a := startAtoll(t, gh, dirA, flags...)
	sha1, err := gh.Push(ctx, repo, "add-web", map[string]string{"network/main.tf": files["network/main.tf"] + webTF}, "add web")
	if err != nil {
		t.Fatal(err)
	}
	pr1, err := gh.OpenPull(ctx, repo, "add-web", "main", "Add web", "alice")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return len(logLines(a.log.String(), `msg="job started"`)) > 0 }, "replica A to start the plan")
	a.Kill()
	if n := countComments(gh, repo, pr1, "Plan: "); n != 0 {
		t.Fatalf("replica A finished the plan before it was killed (%d plan comments); the test needs it mid-plan", n)
	}

	// 2. Replica B takes the job over once A's lease expires and completes it.
	b := startAtoll(t, gh, dirB, flags...)
	planned := waitStatus(t, gh, repo, sha1, "atoll/plan", vcs.StatusSuccess)
	waitComment(t, gh, repo, pr1, "Plan: 2 to add", "starting slow plan")
	if len(logLines(b.log.String(), "took over a job")) == 0 {
		t.Errorf("replica B's log does not say it took over the job:\n%s", b.log.String())
	}

	// 3. B stops; A comes back with its own empty data dir and applies B's plan,
	// restored from Redis and checked by hash.
	b.Stop()
	a = startAtoll(t, gh, dirA, flags...)
	// The status links to the job page; any replica serves it from the archive.
	jobPath := strings.TrimPrefix(planned.TargetURL, b.URL)
	if !strings.HasPrefix(jobPath, "/jobs/") {
		t.Fatalf("plan status links to %q, want a job page", planned.TargetURL)
	}
	if code, page := httpDo(t, http.MethodGet, a.URL+jobPath, nil, nil); code != http.StatusOK || !strings.Contains(page, "starting slow plan") || !strings.Contains(page, "succeeded") {
		t.Errorf("replica A's page for the job B ran: %d\n%s", code, page)
	}
	// And A's job list includes it: the replicas list jobs as one.
	if _, jobs := httpDo(t, http.MethodGet, a.URL+"/api/jobs", nil, nil); !strings.Contains(jobs, `"id":"`+strings.TrimPrefix(jobPath, "/jobs/")+`"`) {
		t.Errorf("replica A's /api/jobs does not list the job B ran:\n%s", jobs)
	}
	if _, err := gh.Comment(ctx, repo, pr1, "bob", "atoll apply"); err != nil {
		t.Fatal(err)
	}
	waitComment(t, gh, repo, pr1, "Apply complete! Resources: 2 added")
	if _, err := os.Stat(filepath.Join(dirB, "plans")); err != nil {
		t.Errorf("replica B made no plan file, so the apply did not cross replicas: %v", err)
	}

	// 4. Both up: a webhook to A plans PR #2, a webhook to B applies it.
	b = startAtoll(t, gh, dirB, flags...)
	gh.SetWebhookURL(a.URL + "/events")
	sha2, err := gh.Push(ctx, repo, "app-v2", map[string]string{"app/main.tf": strings.Replace(files["app/main.tf"], "app-v1", "app-v2", 1)}, "app v2")
	if err != nil {
		t.Fatal(err)
	}
	pr2, err := gh.OpenPull(ctx, repo, "app-v2", "main", "App v2", "carol")
	if err != nil {
		t.Fatal(err)
	}
	waitStatus(t, gh, repo, sha2, "atoll/plan", vcs.StatusSuccess)
	gh.SetWebhookURL(b.URL + "/events")
	if _, err := gh.Comment(ctx, repo, pr2, "bob", "atoll apply"); err != nil {
		t.Fatal(err)
	}
	waitComment(t, gh, repo, pr2, "Apply complete! Resources: 1 added")

	// 5. Every replica down; PR #2 is merged and the webhook is lost. On start-up
	// the reconciler asks GitHub and releases its lock.
	a.Stop()
	b.Stop()
	code, _ := httpGetLocks(t, b.URL)
	if code != 0 {
		t.Fatalf("replica B still answers after Stop")
	}
	gh.SetWebhookURL(fmt.Sprintf("http://127.0.0.1:%d/events", freePort(t)))
	if err := gh.ClosePull(ctx, repo, pr2, true); err == nil {
		t.Fatal("closing PR #2 delivered its webhook; the test needs it lost")
	}
	b = startAtoll(t, gh, dirB, flags...)
	waitFor(t, func() bool {
		_, body := httpDo(t, http.MethodGet, b.URL+"/api/locks", nil, nil)
		return !strings.Contains(body, `"dir":"app"`)
	}, "the reconciler to release the merged PR's lock")
	// The lock is released just before the log line and the metric: wait for them.
	waitFor(t, func() bool { return len(logLines(b.log.String(), "reconciler released locks")) > 0 }, "the reconciler's log line")
	waitFor(t, func() bool {
		_, metrics := httpDo(t, http.MethodGet, b.URL+"/metrics", nil, nil)
		return strings.Contains(metrics, "atoll_locks_reconciled_total 1")
	}, "atoll_locks_reconciled_total to reach 1")
}

// httpGetLocks returns 0 when nothing answers at url.
func httpGetLocks(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url + "/api/locks")
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	return resp.StatusCode, ""
}

func grep(s, sub string) string { return strings.Join(logLines(s, sub), "\n") }
