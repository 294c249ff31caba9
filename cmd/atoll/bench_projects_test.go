package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atollhq/atoll/vcs"
	"github.com/atollhq/atoll/vcs/vcstest"
)

// benchProjects is how many projects BenchmarkPlan20Projects' pull request
// touches and how many pull requests BenchmarkServerRSS20Plans opens at once.
const benchProjects = 20

// benchWarmProjects is the size of the warm-up pull request of
// BenchmarkPlan20Projects: enough to run terraform and every step of the
// pipeline once on each server, far cheaper than a whole run.
const benchWarmProjects = 2

// BenchmarkPlan20Projects measures one pull request that touches 20 projects
// (20 directories, each one terraform_data resource with a local backend, and
// parallel_plan: true in atoll.yaml): from the pull_request "opened" webhook
// being answered (OpenPull returning) until the atoll/plan success status and
// the plan comment showing all 20 projects planned. It runs on two servers:
// one with --max-parallel-jobs 1 --parallel-pool-size 1 (the baseline: one
// project after another) and one with --max-parallel-jobs 4
// --parallel-pool-size 4. Each iteration opens the pull request on a new
// repository of each server, so each is a first plan: a new mirror and
// worktree, and init, plan and show in every project. The two servers take
// turns going first.
//
// Metrics: 1-worker-ms, 4-worker-ms (per pull request) and speed-up
// (1-worker-ms ÷ 4-worker-ms). ns/op is the two pull requests together.
func BenchmarkPlan20Projects(b *testing.B) {
	type server struct {
		name  string
		gh    *vcstest.Server
		total time.Duration
	}
	servers := []*server{{name: "1-worker"}, {name: "4-worker"}}
	for i, workers := range []string{"1", "4"} {
		s := servers[i]
		s.gh = fakeGitHub(b)
		startAtoll(b, s.gh, b.TempDir(), "--log-level", "info", "--max-parallel-jobs", workers, "--parallel-pool-size", workers)
	}
	stateDir := b.TempDir()
	ctx := context.Background()
	// run opens a pull request touching projects projects of a new repository
	// on s and returns how long its plan took.
	run := func(s *server, name string, projects int) time.Duration {
		b.StopTimer()
		state := filepath.Join(stateDir, s.name, name)
		if err := os.MkdirAll(state, 0o755); err != nil {
			b.Fatal(err)
		}
		files, change := projectFiles(state, projects, name)
		files["atoll.yaml"] = "version: 3\nparallel_plan: true\n"
		repo, err := benchCall(ctx, func(ctx context.Context) (vcs.Repo, error) { return s.gh.CreateRepo(ctx, "acme", name, files) })
		if err != nil {
			b.Fatal(err)
		}
		sha, err := benchCall(ctx, func(ctx context.Context) (string, error) {
			return s.gh.Push(ctx, repo, "change", change, "change "+name)
		})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		pr, err := benchCall(ctx, func(ctx context.Context) (int, error) {
			return s.gh.OpenPull(ctx, repo, "change", "main", "Change "+name, "alice")
		})
		if err != nil {
			b.Fatal(err)
		}
		waitProjectsPlanned(b, s.gh, repo, pr, sha, projects)
		return time.Since(start)
	}
	// Warm-up, not timed: terraform and the servers' code in the page cache.
	for _, s := range servers {
		run(s, "warm-up", benchWarmProjects)
	}

	n := 0
	for b.Loop() {
		order := servers
		if n%2 == 1 {
			order = []*server{servers[1], servers[0]}
		}
		for _, s := range order {
			s.total += run(s, fmt.Sprintf("fan%d", n), benchProjects)
		}
		n++
	}
	ms := func(d time.Duration) float64 { return d.Seconds() * 1e3 / float64(n) }
	one, four := ms(servers[0].total), ms(servers[1].total)
	b.ReportMetric(one, "1-worker-ms")
	b.ReportMetric(four, "4-worker-ms")
	b.ReportMetric(one/four, "speed-up")
}

// BenchmarkServerRSS20Plans measures the atoll process's peak resident memory
// (VmHWM; terraform's child processes are not included) while 20 plans run at
// once: 20 pull requests, each changing a different project of one repository
// (so no lock is in the way), opened at the same time on a server with
// --max-parallel-jobs 20, until every one has its success status and plan
// comment. The baseline is the same process idle, after start-up and one
// signed webhook (a ping), before any pull request. Each iteration starts a
// new server, since VmHWM only grows.
//
// Metrics: idle-MiB, load-MiB and ratio (load-MiB ÷ idle-MiB). ns/op is the
// time from opening the pull requests until all 20 are planned.
func BenchmarkServerRSS20Plans(b *testing.B) {
	ctx := context.Background()
	var idleTotal, loadTotal float64
	n := 0
	for b.Loop() {
		b.StopTimer()
		gh := fakeGitHub(b)
		atoll := startAtoll(b, gh, b.TempDir(), "--log-level", "info", "--max-parallel-jobs", strconv.Itoa(benchProjects))
		files, change := projectFiles(b.TempDir(), benchProjects, "rss")
		repo, err := benchCall(ctx, func(ctx context.Context) (vcs.Repo, error) { return gh.CreateRepo(ctx, "acme", "rss", files) })
		if err != nil {
			b.Fatal(err)
		}
		// One branch per project, each changing only that project.
		branches := make([]string, 0, len(change))
		shas := map[string]string{}
		for name, body := range change {
			branch := "change-" + filepath.Dir(name)
			sha, err := benchCall(ctx, func(ctx context.Context) (string, error) {
				return gh.Push(ctx, repo, branch, map[string]string{name: body}, "change "+name)
			})
			if err != nil {
				b.Fatal(err)
			}
			branches = append(branches, branch)
			shas[branch] = sha
		}
		// Idle: started, and one signed webhook answered.
		if code, err := benchCall(ctx, gh.Ping); err != nil || code != http.StatusOK {
			b.Fatalf("ping: %d, %v", code, err)
		}
		idle, err := peakRSS(atoll.cmd.Process.Pid)
		if err != nil {
			b.Fatal(err)
		}

		b.StartTimer()
		nums := make([]int, len(branches))
		var wg sync.WaitGroup
		for i, branch := range branches {
			wg.Go(func() {
				num, err := benchCall(ctx, func(ctx context.Context) (int, error) {
					return gh.OpenPull(ctx, repo, branch, "main", "Change "+branch, "alice")
				})
				if err != nil {
					b.Error(err)
				}
				nums[i] = num
			})
		}
		wg.Wait()
		if b.Failed() {
			b.FailNow()
		}
		for i, branch := range branches {
			waitProjectsPlanned(b, gh, repo, nums[i], shas[branch], 1)
		}
		b.StopTimer()
		load, err := peakRSS(atoll.cmd.Process.Pid)
		if err != nil {
			b.Fatal(err)
		}
		atoll.Stop()
		idleTotal += float64(idle) / (1 << 20)
		loadTotal += float64(load) / (1 << 20)
		n++
		b.StartTimer()
	}
	b.ReportMetric(idleTotal/float64(n), "idle-MiB")
	b.ReportMetric(loadTotal/float64(n), "load-MiB")
	b.ReportMetric(loadTotal/idleTotal, "ratio")
}

// projectFiles returns a repository of count projects p00, p01, … (each one
// terraform_data resource and a local backend keeping its state under
// stateDir) and, for a branch, a change to every project's main.tf that
// gives its resource a new input naming tag.
func projectFiles(stateDir string, count int, tag string) (files, change map[string]string) {
	files, change = map[string]string{}, map[string]string{}
	for i := range count {
		p := fmt.Sprintf("p%02d", i)
		files[p+"/backend.tf"] = fmt.Sprintf("terraform {\n  required_version = \">= 1.5.0\"\n  backend \"local\" {\n    path = %q\n  }\n}\n",
			filepath.ToSlash(filepath.Join(stateDir, p+".tfstate")))
		files[p+"/main.tf"] = fmt.Sprintf("resource \"terraform_data\" \"x\" {\n  input = %q\n}\n", p)
		change[p+"/main.tf"] = fmt.Sprintf("resource \"terraform_data\" \"x\" {\n  input = %q\n}\n", p+"-"+tag)
	}
	return files, change
}

// waitProjectsPlanned waits until sha has a successful atoll/plan status and
// pull num has a plan comment for all projects of it (count), failing b after
// benchWait.
func waitProjectsPlanned(b *testing.B, gh *vcstest.Server, repo vcs.Repo, num int, sha string, count int) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), benchWait)
	defer cancel()
	if _, err := gh.WaitStatus(ctx, repo, sha, "atoll/plan", vcs.StatusSuccess); err != nil {
		b.Fatalf("plan of #%d: %v\ncomments:\n%s", num, err, joinBodies(gh, repo, num))
	}
	want := "— 1 to add, 0 to change, 0 to destroy"
	if count > 1 {
		want = fmt.Sprintf("### Plan for %d projects — %d planned\n", count, count)
	}
	if _, err := gh.WaitComment(ctx, repo, num, func(c vcstest.RecordedComment) bool {
		return strings.HasPrefix(c.Body, "### Plan for ") && strings.Contains(c.Body, want)
	}); err != nil {
		b.Fatalf("plan comment on #%d (want %q): %v\ncomments:\n%s", num, want, err, joinBodies(gh, repo, num))
	}
}
