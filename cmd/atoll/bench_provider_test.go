package main

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/atollhq/atoll/internal/testenv"
	"github.com/atollhq/atoll/testdrive/sandbox"
	"github.com/atollhq/atoll/vcs"
	"github.com/atollhq/atoll/vcs/vcstest"
)

// providerPad is how much the sandbox provider is padded by, so that its
// download and start-up cost what a cloud provider's do.
const providerPad = 100 << 20

// providerBenchTF is the project of BenchmarkPlanWithProvider: the sandbox
// provider, configured (so plan starts it), and one terraform_data resource
// whose input each push changes.
const providerBenchTF = `terraform {
  required_providers {
    sandbox = { source = "atoll/sandbox" }
  }
}

provider "sandbox" {
  cloud = %q
}

resource "terraform_data" "bench" {
  input = %q
}
`

// BenchmarkPlanWithProvider measures a plan that needs a ~100 MiB provider,
// served from a local HTTPS network mirror (provider_installation {
// network_mirror }), for a first plan (a new pull request) and a re-plan (a
// push to it). Atoll's time is from the webhook (OpenPull or Push returning)
// to the success status and the plan comment. Two baselines run the same
// content by hand in the same run: `terraform init && terraform plan` in a
// fresh directory, and the same with a warm TF_PLUGIN_CACHE_DIR. Each project
// commits its .terraform.lock.hcl, as recommended.
//
// Metrics (ms per plan): first-ms, replan-ms, raw-ms, raw-cache-ms, and the
// ratios first/raw, first/raw-cache, replan/raw, replan/raw-cache.
func BenchmarkPlanWithProvider(b *testing.B) {
	rc, certEnv := providerMirror(b)
	tf := testenv.Terraform(b)
	tfEnv := append(testenv.TerraformEnv(b), "TF_CLI_CONFIG_FILE="+rc, certEnv)
	cloud := filepath.Join(b.TempDir(), "cloud.json")
	content := func(value string) string { return fmt.Sprintf(providerBenchTF, cloud, value) }

	// The lock file the repository commits, and a warm cache for the
	// baseline, both from one init by hand.
	cache := b.TempDir()
	lock := providerInit(b, tf, append(tfEnv, "TF_PLUGIN_CACHE_DIR="+cache), content("lock"))
	files := map[string]string{"network/main.tf": content("base"), "network/.terraform.lock.hcl": lock}

	gh := fakeGitHub(b)
	startAtollEnv(b, gh, b.TempDir(), []string{"TF_CLI_CONFIG_FILE=" + rc, certEnv}, "--log-level", "info")
	ctx := context.Background()
	repo, err := benchCall(ctx, func(ctx context.Context) (vcs.Repo, error) { return gh.CreateRepo(ctx, "acme", "provider", files) })
	if err != nil {
		b.Fatal(err)
	}

	// Each pull request adds a project directory of its own (pr-VALUE), so
	// that no lock of an earlier one is in the way.
	// Warm-up, not timed: the mirror clone, the first download into Atoll's
	// plugin cache, the page cache for terraform and the provider.
	open := func(value string) (int, string, time.Duration) {
		branch := "pr-" + value
		sha, err := benchCall(ctx, func(ctx context.Context) (string, error) {
			return gh.Push(ctx, repo, branch, map[string]string{branch + "/main.tf": content(value), branch + "/.terraform.lock.hcl": lock}, value)
		})
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		pr, err := benchCall(ctx, func(ctx context.Context) (int, error) {
			return gh.OpenPull(ctx, repo, branch, "main", value, "alice")
		})
		if err != nil {
			b.Fatal(err)
		}
		waitProviderPlan(b, gh, repo, pr, sha, value)
		return pr, branch, time.Since(start)
	}
	push := func(pr int, branch, value string) time.Duration {
		sha, err := benchCall(ctx, func(ctx context.Context) (string, error) {
			return gh.Push(ctx, repo, branch, map[string]string{branch + "/main.tf": content(value)}, value)
		})
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		waitProviderPlan(b, gh, repo, pr, sha, value)
		return time.Since(start)
	}
	pr, branch, _ := open("warm")
	push(pr, branch, "warm-push")
	rawProviderPlan(b, tf, tfEnv, lock, content("warm"))

	var first, replan, raw, rawCache time.Duration
	n := 0
	for b.Loop() {
		value := fmt.Sprintf("b%d", n)
		pr, branch, d := open(value)
		first += d
		replan += push(pr, branch, value+"-push")
		b.StopTimer()
		raw += rawProviderPlan(b, tf, tfEnv, lock, content(value))
		rawCache += rawProviderPlan(b, tf, append(tfEnv, "TF_PLUGIN_CACHE_DIR="+cache), lock, content(value))
		n++
		b.StartTimer()
	}
	ms := func(d time.Duration) float64 { return d.Seconds() * 1e3 / float64(n) }
	b.ReportMetric(ms(first), "first-ms")
	b.ReportMetric(ms(replan), "replan-ms")
	b.ReportMetric(ms(raw), "raw-ms")
	b.ReportMetric(ms(rawCache), "raw-cache-ms")
	b.ReportMetric(ms(first)/ms(raw), "first/raw")
	b.ReportMetric(ms(first)/ms(rawCache), "first/raw-cache")
	b.ReportMetric(ms(replan)/ms(raw), "replan/raw")
	b.ReportMetric(ms(replan)/ms(rawCache), "replan/raw-cache")
}

func waitProviderPlan(b *testing.B, gh *vcstest.Server, repo vcs.Repo, num int, sha, value string) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), benchWait)
	defer cancel()
	if _, err := gh.WaitStatus(ctx, repo, sha, "atoll/plan", vcs.StatusSuccess); err != nil {
		b.Fatalf("plan of %s: %v\ncomments:\n%s", value, err, joinBodies(gh, repo, num))
	}
	quoted := strconv.Quote(value)
	if _, err := gh.WaitComment(ctx, repo, num, func(c vcstest.RecordedComment) bool {
		return strings.Contains(c.Body, quoted) && strings.Contains(c.Body, "Plan: 1 to add, 0 to change, 0 to destroy.")
	}); err != nil {
		b.Fatalf("plan comment for %s: %v\ncomments:\n%s", value, err, joinBodies(gh, repo, num))
	}
}

// providerMirror serves the sandbox provider, padded to providerPad more
// bytes, from an HTTPS network mirror and returns a CLI config file that
// installs atoll/* providers from it and the SSL_CERT_FILE setting that makes
// terraform trust it.
func providerMirror(b *testing.B) (rc, certEnv string) {
	b.Helper()
	sandboxEnv(b) // builds providerBin
	bin, err := os.ReadFile(providerBin)
	if err != nil {
		b.Fatal(err)
	}
	pad := make([]byte, providerPad)
	if _, err := rand.Read(pad); err != nil {
		b.Fatal(err)
	}
	var zbuf bytes.Buffer
	zw := zip.NewWriter(&zbuf)
	hdr := &zip.FileHeader{Name: sandbox.BinaryName, Method: zip.Store}
	hdr.SetMode(0o755)
	w, err := zw.CreateHeader(hdr)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := w.Write(append(bin, pad...)); err != nil {
		b.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		b.Fatal(err)
	}
	platform := runtime.GOOS + "_" + runtime.GOARCH
	archive := fmt.Sprintf("terraform-provider-sandbox_%s_%s.zip", sandbox.Version, platform)
	base := "/" + sandbox.Address + "/"
	mux := http.NewServeMux()
	mux.HandleFunc(base+"index.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"versions":{%q:{}}}`, sandbox.Version)
	})
	mux.HandleFunc(base+sandbox.Version+".json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"archives":{%q:{"url":%q}}}`, platform, archive)
	})
	zipBytes := zbuf.Bytes()
	mux.HandleFunc(base+archive, func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, archive, time.Time{}, bytes.NewReader(zipBytes))
	})
	srv := httptest.NewTLSServer(mux)
	b.Cleanup(srv.Close)
	cert := filepath.Join(b.TempDir(), "mirror.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(cert, pemBytes, 0o644); err != nil {
		b.Fatal(err)
	}
	rc = filepath.Join(b.TempDir(), "terraformrc")
	cfg := fmt.Sprintf(`provider_installation {
  network_mirror {
    url     = %q
    include = ["registry.terraform.io/atoll/*"]
  }
  direct {
    exclude = ["registry.terraform.io/atoll/*"]
  }
}
`, srv.URL+"/")
	if err := os.WriteFile(rc, []byte(cfg), 0o644); err != nil {
		b.Fatal(err)
	}
	return rc, "SSL_CERT_FILE=" + cert
}

// providerInit runs init once in a fresh directory and returns the lock file
// it wrote.
func providerInit(b *testing.B, tf string, env []string, main string) string {
	b.Helper()
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.tf"), []byte(main), 0o644); err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(tf, "init", "-input=false")
	cmd.Dir, cmd.Env = dir, env
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("terraform init: %v\n%s", err, out)
	}
	lock, err := os.ReadFile(filepath.Join(dir, ".terraform.lock.hcl"))
	if err != nil {
		b.Fatal(err)
	}
	return string(lock)
}

// rawProviderPlan runs `terraform init -input=false && terraform plan
// -input=false -out=x` by hand in a fresh directory holding main and the lock
// file, and returns how long the two took.
func rawProviderPlan(b *testing.B, tf string, env []string, lock, main string) time.Duration {
	b.Helper()
	dir, err := os.MkdirTemp("", "atoll-bench-provider-")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(dir)
	for name, body := range map[string]string{"main.tf": main, ".terraform.lock.hcl": lock} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	var out bytes.Buffer
	run := func(args ...string) {
		cmd := exec.Command(tf, args...)
		cmd.Dir, cmd.Env = dir, env
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			b.Fatalf("terraform %s: %v\n%s", strings.Join(args, " "), err, out.String())
		}
	}
	start := time.Now()
	run("init", "-input=false")
	run("plan", "-input=false", "-out=x")
	took := time.Since(start)
	if !strings.Contains(out.String(), "1 to add, 0 to change, 0 to destroy.") {
		b.Fatalf("terraform plan did not plan the resource:\n%s", out.String())
	}
	return took
}
