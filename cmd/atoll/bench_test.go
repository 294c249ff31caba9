package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atollhq/atoll/internal/testenv"
	"github.com/atollhq/atoll/testdrive"
	"github.com/atollhq/atoll/vcs"
	"github.com/atollhq/atoll/vcs/vcstest"
)

// The end-to-end benchmarks run the real atoll binary against the fake GitHub,
// like the e2e tests, and report each figure next to a baseline measured in the
// same run, so the ratio means the same on a fast laptop and a slow CI runner.
// docs/benchmarks.md explains how to read them.

// benchTF is appended to the sample network/main.tf; each iteration gives it a
// new input, so each push really changes the plan and the comment is new.
const benchTF = `
resource "terraform_data" "bench" {
  input = %q
}
`

// benchWait bounds one wait for Atoll; a plan of the sample repo takes seconds.
const benchWait = 2 * time.Minute

// BenchmarkWebhookToPlanComment measures one autoplan end to end: from the
// fake GitHub's synchronize webhook being answered (gh.Push returning) until the
// atoll/plan success status for the pushed SHA and the plan comment showing the
// pushed change both exist. The baseline is what a user would run by hand on the
// same content: `terraform init -input=false && terraform plan -input=false
// -out=x` in a fresh directory (Atoll keeps .terraform and skips init when
// nothing init depends on changed, as here), with the same terraform binary and
// environment.
//
// Metrics: atoll-ms/op, terraform-ms/op, ratio (atoll/terraform), and
// server-peak-MiB (the atoll process's peak RSS, VmHWM, without terraform's).
// ns/op is Atoll's time alone.
func BenchmarkWebhookToPlanComment(b *testing.B) {
	gh := fakeGitHub(b)
	atoll := startAtoll(b, gh, b.TempDir(), "--log-level", "info")
	stateDir := b.TempDir()
	files := testdrive.SampleFiles(stateDir)
	ctx := context.Background()
	repo, err := benchCall(ctx, func(ctx context.Context) (vcs.Repo, error) { return gh.CreateRepo(ctx, "acme", "bench", files) })
	if err != nil {
		b.Fatal(err)
	}
	network := files["network/main.tf"]
	content := func(value string) string { return network + fmt.Sprintf(benchTF, value) }
	tfEnv := testenv.TerraformEnv(b)
	tf := testenv.Terraform(b)

	// Warm-up, not timed: the first plan also clones Atoll's mirror and adds the
	// PR's worktree, which later pushes reuse; the first baseline run pulls the
	// terraform binary into the page cache.
	sha, err := benchCall(ctx, func(ctx context.Context) (string, error) {
		return gh.Push(ctx, repo, "bench", map[string]string{"network/main.tf": content("warm-up")}, "warm up")
	})
	if err != nil {
		b.Fatal(err)
	}
	pr, err := benchCall(ctx, func(ctx context.Context) (int, error) {
		return gh.OpenPull(ctx, repo, "bench", "main", "Benchmark", "alice")
	})
	if err != nil {
		b.Fatal(err)
	}
	waitPlanned(b, gh, repo, pr, sha, "warm-up")
	rawPlan(b, tf, tfEnv, files, content("warm-up"))

	var atollTotal, tfTotal time.Duration
	n := 0
	for b.Loop() {
		b.StopTimer()
		value := fmt.Sprintf("bench-%d", n)
		sha, err := benchCall(ctx, func(ctx context.Context) (string, error) {
			return gh.Push(ctx, repo, "bench", map[string]string{"network/main.tf": content(value)}, "bench "+value)
		})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		waitPlanned(b, gh, repo, pr, sha, value)
		atollTotal += time.Since(start)
		b.StopTimer()

		tfTotal += rawPlan(b, tf, tfEnv, files, content(value))
		n++
		b.StartTimer()
	}
	b.StopTimer()
	peak, err := peakRSS(atoll.cmd.Process.Pid)
	if err != nil {
		b.Fatal(err)
	}
	atollMS := atollTotal.Seconds() * 1e3 / float64(n)
	tfMS := tfTotal.Seconds() * 1e3 / float64(n)
	b.ReportMetric(atollMS, "atoll-ms/op")
	b.ReportMetric(tfMS, "terraform-ms/op")
	b.ReportMetric(atollMS/tfMS, "ratio")
	b.ReportMetric(float64(peak)/(1<<20), "server-peak-MiB")
}

// waitPlanned waits until sha has a successful atoll/plan status and pull num
// has a plan comment showing value, failing b after benchWait.
func waitPlanned(b *testing.B, gh *vcstest.Server, repo vcs.Repo, num int, sha, value string) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), benchWait)
	defer cancel()
	if _, err := gh.WaitStatus(ctx, repo, sha, "atoll/plan", vcs.StatusSuccess); err != nil {
		b.Fatalf("plan of %s: %v\ncomments:\n%s", value, err, joinBodies(gh, repo, num))
	}
	quoted := strconv.Quote(value)
	if _, err := gh.WaitComment(ctx, repo, num, func(c vcstest.RecordedComment) bool {
		return strings.Contains(c.Body, quoted) && strings.Contains(c.Body, "Plan: 2 to add, 0 to change, 0 to destroy.")
	}); err != nil {
		b.Fatalf("plan comment for %s: %v\ncomments:\n%s", value, err, joinBodies(gh, repo, num))
	}
}

// rawPlan writes the repository (with network/main.tf set to main) into a fresh
// directory, runs `terraform init -input=false && terraform plan -input=false
// -out=x` in network/, and returns how long the two commands took.
func rawPlan(b *testing.B, tf string, env []string, files map[string]string, main string) time.Duration {
	b.Helper()
	dir, err := os.MkdirTemp("", "atoll-bench-tf-")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(dir)
	for name, body := range files {
		if name == "network/main.tf" {
			body = main
		}
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	var out bytes.Buffer
	run := func(args ...string) {
		cmd := exec.Command(tf, args...)
		cmd.Dir = filepath.Join(dir, "network")
		cmd.Env = env
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			b.Fatalf("terraform %s: %v\n%s", strings.Join(args, " "), err, out.String())
		}
	}
	start := time.Now()
	run("init", "-input=false")
	run("plan", "-input=false", "-out=x")
	took := time.Since(start)
	// Without -no-color, terraform puts colour codes between "Plan:" and the counts.
	if !strings.Contains(out.String(), "2 to add, 0 to change, 0 to destroy.") {
		b.Fatalf("terraform plan did not plan the two resources:\n%s", out.String())
	}
	return took
}

// BenchmarkWebhookAck measures how long POST /events takes to answer a signed
// issue_comment webhook that is not a command ("lgtm"): Atoll verifies the
// signature, parses the payload and answers at once. The payload is the one the
// fake GitHub sends for such a comment. The baseline is GET /healthz on the same
// server over the same keep-alive connection, alternating with the webhook.
//
// Metrics: ack-us/op, healthz-us/op, ratio (ack/healthz). ns/op is the ack alone.
func BenchmarkWebhookAck(b *testing.B) {
	gh := fakeGitHub(b)
	atoll := startAtoll(b, gh, b.TempDir(), "--log-level", "info")
	header, body := captureLGTM(b, gh)
	gh.SetWebhookURL(atoll.URL + "/events")

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}, Timeout: 30 * time.Second}
	defer client.CloseIdleConnections()
	post := func() string {
		req, err := http.NewRequest(http.MethodPost, atoll.URL+"/events", bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		req.Header = header.Clone()
		return benchDo(b, client, req)
	}
	healthz := func() string {
		req, err := http.NewRequest(http.MethodGet, atoll.URL+"/healthz", nil)
		if err != nil {
			b.Fatal(err)
		}
		return benchDo(b, client, req)
	}
	// The webhook must really be verified and read as a non-command comment.
	if got := post(); !strings.Contains(got, "not a command") {
		b.Fatalf("POST /events answered %q, want the comment ignored as not a command", got)
	}
	healthz()

	var ackTotal, hzTotal time.Duration
	n := 0
	for b.Loop() {
		start := time.Now()
		post()
		ackTotal += time.Since(start)
		b.StopTimer()
		start = time.Now()
		healthz()
		hzTotal += time.Since(start)
		n++
		b.StartTimer()
	}
	ackUS := float64(ackTotal.Nanoseconds()) / 1e3 / float64(n)
	hzUS := float64(hzTotal.Nanoseconds()) / 1e3 / float64(n)
	b.ReportMetric(ackUS, "ack-us/op")
	b.ReportMetric(hzUS, "healthz-us/op")
	b.ReportMetric(ackUS/hzUS, "ratio")
}

// captureLGTM makes the fake GitHub comment "lgtm" on a pull request while its
// webhook points at a recorder, and returns that delivery's headers and body.
// Atoll sees none of it, so it is idle when the benchmark starts.
func captureLGTM(b *testing.B, gh *vcstest.Server) (http.Header, []byte) {
	b.Helper()
	var (
		mu     sync.Mutex // guards header and body
		header http.Header
		body   []byte
	)
	rec := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		data, _ := io.ReadAll(r.Body)
		if r.Header.Get("X-GitHub-Event") == "issue_comment" {
			mu.Lock()
			header, body = r.Header.Clone(), data
			mu.Unlock()
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer rec.Close()
	gh.SetWebhookURL(rec.URL)
	ctx, cancel := context.WithTimeout(context.Background(), benchWait)
	defer cancel()
	files := testdrive.SampleFiles(b.TempDir())
	repo, err := gh.CreateRepo(ctx, "acme", "ack", files)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := gh.Push(ctx, repo, "tweak", map[string]string{"network/main.tf": files["network/main.tf"] + "\n"}, "tweak"); err != nil {
		b.Fatal(err)
	}
	pr, err := gh.OpenPull(ctx, repo, "tweak", "main", "Tweak", "alice")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := gh.Comment(ctx, repo, pr, "bob", "lgtm"); err != nil {
		b.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if body == nil || header.Get("X-Hub-Signature-256") == "" {
		b.Fatal("the fake GitHub sent no signed issue_comment webhook")
	}
	// Only the transport's own headers are dropped; the signature stays.
	header.Del("Content-Length")
	header.Del("Accept-Encoding")
	return header, body
}

// benchDo sends req, fails b unless it answers 200, and returns the body.
func benchDo(b *testing.B, client *http.Client, req *http.Request) string {
	resp, err := client.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		b.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("%s %s: %d %s", req.Method, req.URL.Path, resp.StatusCode, data)
	}
	return string(data)
}

// peakRSS returns the peak resident set size of process pid in bytes, from
// VmHWM in /proc/PID/status (Linux).
func peakRSS(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("read peak rss: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:")
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parse VmHWM %q: %w", rest, err)
		}
		return kb << 10, nil
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("read peak rss: %w", err)
	}
	return 0, fmt.Errorf("no VmHWM in /proc/%d/status", pid)
}

// benchCall runs f with a context bounded by benchWait.
func benchCall[T any](ctx context.Context, f func(context.Context) (T, error)) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, benchWait)
	defer cancel()
	return f(ctx)
}
