package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/atollhq/atoll/internal/testenv"
	"github.com/atollhq/atoll/vcs"
)

// TestE2ETwoReplicaPartition is issue #8's reproduction: with a 2s lease,
// replica A is cut off from Redis for 5s in the middle of an apply, and a
// second `atoll apply` on the same PR goes to replica B. A stops its apply
// before its lease can expire (terraform never starts applying there) and
// says why; B applies once; terraform apply runs exactly once, and nothing is
// left behind: no job in the queue or the journal, no mutex, no pending
// status, no step process.
func TestE2ETwoReplicaPartition(t *testing.T) {
	t.Parallel()
	start := time.Now()
	gh := fakeGitHub(t)
	ctx := waitCtx(t)
	redisAddr := testenv.RedisServer(t)
	proxy := testenv.NewCutProxy(t, redisAddr)
	rdb := goredis.NewClient(&goredis.Options{Addr: redisAddr})
	t.Cleanup(func() { rdb.Close() })

	// Every apply sleeps first (the window to cut A off in), then notes in a
	// file outside the repo that it reached terraform apply. The state is
	// each replica's own (no backend), as in the report, where both applies
	// finished.
	marks := t.TempDir()
	started, applying := filepath.Join(marks, "started"), filepath.Join(marks, "applying")
	const sleep = "sleep 8.37"
	reposYAML := writeReposYAML(t, fmt.Sprintf(`repos:
- id: /.*/
  workflow: slowapply
workflows:
  slowapply:
    apply:
      steps:
      - run: echo started >> %s; %s
      - run: echo applying >> %s
      - apply
`, started, sleep, applying))
	flags := func(redis string) []string {
		return append(redisFlags(t, redis), "--cluster-lease=2s", "--kill-grace=2s", "--lock-reconcile-interval=1h", reposYAML)
	}
	repo, err := gh.CreateRepo(ctx, "acme", "infra", map[string]string{
		"network/main.tf": "resource \"terraform_data\" \"vpc\" {\n  input = \"10.0.0.0/16\"\n}\n",
	})
	if err != nil {
		t.Fatal(err)
	}

	// Replica A alone (reaching Redis through the proxy) plans and starts the apply.
	a := startAtoll(t, gh, t.TempDir(), flags(proxy.Addr())...)
	sha, pr := openPR(t, gh, repo, "subnet", map[string]string{
		"network/subnet.tf": "resource \"terraform_data\" \"subnet\" {\n  input = \"10.0.1.0/24\"\n}\n",
	}, "alice")
	waitStatus(t, gh, repo, sha, "atoll/plan", vcs.StatusSuccess)
	comment(t, gh, repo, pr, "bob", "atoll apply")
	waitFor(t, func() bool { return countLines(started) == 1 }, "replica A to start the apply")

	// Replica B joins (webhooks now go to it), then A is cut off from Redis.
	b := startAtoll(t, gh, t.TempDir(), flags(redisAddr)...)
	proxy.Cut()
	cut := time.Now()
	t.Logf("A cut off from Redis %s into the test", cut.Sub(start).Round(time.Millisecond))

	// A should stop its apply before its 2s lease can expire. The test goes
	// on either way, so that without the fix it shows the second apply.
	var stopped time.Duration
	for time.Since(cut) < 3*time.Second {
		if stopped == 0 && len(logLines(a.log.String(), "lost; stopping")) > 0 {
			stopped = time.Since(cut)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A's lease has expired: a second apply goes to B.
	comment(t, gh, repo, pr, "bob", "atoll apply")
	time.Sleep(5*time.Second - time.Since(cut))
	proxy.Heal()
	t.Logf("A back in contact with Redis %s after the cut; it stopped its job %s after the cut", time.Since(cut).Round(time.Millisecond), stopped)

	waitComment(t, gh, repo, pr, "Apply complete! Resources: 2 added")
	waitFor(t, func() bool {
		for _, p := range []*atollProc{a, b} {
			if _, body := httpDo(t, http.MethodGet, p.URL+"/api/jobs", nil, nil); strings.Contains(body, `"state":"running"`) {
				return false
			}
		}
		return true
	}, "every job on both replicas to end")
	if n := countLines(applying); n != 1 {
		t.Errorf("terraform apply was reached %d times, want 1", n)
	}
	if n := countComments(gh, repo, pr, "Apply complete!"); n != 1 {
		t.Errorf("%d comments say \"Apply complete!\", want 1:\n%s", n, joinBodies(gh, repo, pr))
	}
	if n := countLines(started); n != 2 {
		t.Errorf("%d applies started, want 2 (A's, stopped, and B's)", n)
	}
	switch {
	case stopped == 0:
		t.Errorf("replica A did not stop its job within 3s of losing Redis")
	case stopped > 2*time.Second:
		t.Errorf("replica A stopped its job %s after losing Redis, past its 2s lease", stopped)
	}
	if countComments(gh, repo, pr, "the replica running it lost its lease (lease lost: this replica lost contact with Redis") != 1 {
		t.Errorf("no comment says replica A stopped `atoll apply` because it lost contact with Redis:\n%s", joinBodies(gh, repo, pr))
	}
	if len(logLines(b.log.String(), "took over a job")) == 0 {
		t.Errorf("replica B did not take A's job over")
	}
	waitStatus(t, gh, repo, sha, "atoll/apply", vcs.StatusSuccess)

	// Nothing is orphaned.
	waitFor(t, func() bool {
		jobs, _ := rdb.XLen(ctx, "atoll:jobs").Result()
		journal, _ := rdb.HLen(ctx, "atoll:journal").Result()
		mutexes, _ := rdb.Keys(ctx, "atoll:mutex:*").Result()
		return jobs == 0 && journal == 0 && len(mutexes) == 0
	}, "the queue, the journal and the mutexes to empty")
	last := map[string]vcs.StatusState{} // the last status of each context counts
	for _, st := range gh.Statuses(repo, sha) {
		last[st.Context] = st.State
	}
	for c, s := range last {
		if s == vcs.StatusPending {
			t.Errorf("status %s is left pending", c)
		}
	}
	if processRunning(t, "sleep\x008.37") {
		t.Errorf("an apply's sleep step outlived its job")
	}
	t.Logf("partition test took %s", time.Since(start).Round(time.Second))
}

// countLines returns the lines in the file at path, 0 if it does not exist.
func countLines(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	return strings.Count(string(b), "\n")
}
