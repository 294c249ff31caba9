// Package testdrive is Atoll's local demo: it starts the fake GitHub from
// vcs/vcstest, creates a sample repository that uses only terraform_data (no
// registry downloads, no cloud), starts a real Atoll server against it, and walks
// through plan → apply → lock conflict → merge → lock release, printing every
// comment Atoll posts.
package testdrive

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/atollhq/atoll/testdrive/sandbox"
	"github.com/atollhq/atoll/vcs"
	"github.com/atollhq/atoll/vcs/vcstest"
)

// Target is what the Atoll server under test must be pointed at.
type Target struct {
	// APIURL is the fake GitHub's REST base URL (--gh-api-url).
	APIURL string
	// Token is the GitHub token the fake accepts (--gh-token).
	Token string
	// WebhookSecret signs deliveries (--gh-webhook-secret).
	WebhookSecret string
	// BotUser is the login Atoll's comments appear under (--gh-user).
	BotUser string
	// DataDir is a fresh directory for Atoll's data (--data-dir).
	DataDir string
	// Env is the environment terraform should run with.
	Env []string
	// DriftRepos are the repositories to watch for drift (--drift-repos).
	DriftRepos string
	// ReposYAML is the server-side repos.yaml (--repo-config), as text.
	ReposYAML string
}

// demoReposYAML is the test drive's repos.yaml: merging a planned pull
// request applies it.
const demoReposYAML = "repos:\n- id: /.*/\n  apply_on_merge: true\n"

// Options configure a test drive.
type Options struct {
	// Out receives the walkthrough.
	Out io.Writer
	// Dir is the working directory; a temporary one when empty.
	Dir string
	// StartAtoll starts an Atoll server for t and returns its base URL and a stop function.
	StartAtoll func(ctx context.Context, t Target) (url string, stop func(), err error)
	// StepTimeout bounds each step; two minutes when zero.
	StepTimeout time.Duration
	// Stay keeps the servers up after the walkthrough until ctx ends.
	Stay bool
	// Env is the base environment terraform runs with (the caller's os.Environ()).
	Env []string
	// Terraform is the terraform binary, used to apply the sample repo's main
	// branch before the walkthrough ("terraform" on PATH when empty).
	Terraform string
	// SandboxProvider is the terraform-provider-sandbox binary (built by `make
	// testdrive`), installed offline for the app/ project so drift is real.
	SandboxProvider string
}

const (
	owner    = "acme"
	repoName = "infra"
	token    = "testdrive-token"
	secret   = "testdrive-webhook-secret"
)

// SampleFiles is the sample repository's first commit. Each project keeps its
// state in stateDir through the local backend, standing in for the remote
// backend (S3, GCS, Terraform Cloud) a real team shares between pull requests.
func SampleFiles(stateDir string) map[string]string {
	backend := func(project string) string {
		return fmt.Sprintf("terraform {\n  required_version = \">= 1.5.0\"\n  backend \"local\" {\n    path = %q\n  }\n}\n",
			filepath.ToSlash(filepath.Join(stateDir, project+".tfstate")))
	}
	return map[string]string{
		"README.md":          "# acme/infra\n\nA sample infrastructure repository for `atoll testdrive`.\n",
		"network/backend.tf": backend("network"),
		"network/main.tf": `resource "terraform_data" "vpc" {
  input = "10.0.0.0/16"
}
`,
		"app/backend.tf": backend("app"),
		"app/main.tf": `resource "terraform_data" "service" {
  input = "app-v1"
}
`,
	}
}

// Run runs the walkthrough. It returns an error naming the step that failed.
func Run(ctx context.Context, o Options) error {
	if o.StepTimeout == 0 {
		o.StepTimeout = 2 * time.Minute
	}
	dir := o.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "atoll-testdrive-")
		if err != nil {
			return fmt.Errorf("create work dir: %w", err)
		}
		defer os.RemoveAll(d)
		dir = d
	}
	out := o.Out
	say := func(format string, args ...any) { fmt.Fprintf(out, format+"\n", args...) }

	// The demo's people can push to the repository, as a team's members
	// can: commands need write permission.
	gh, err := vcstest.New(vcstest.Options{Dir: filepath.Join(dir, "github"), Token: token, WebhookSecret: secret,
		BasePermissions: map[string]string{"alice": "write", "bob": "write", "carol": "write"}})
	if err != nil {
		return fmt.Errorf("start fake github: %w", err)
	}
	defer gh.Close()
	env, err := terraformEnv(dir, o.Env, o.SandboxProvider)
	if err != nil {
		return err
	}
	cloud := filepath.Join(dir, "cloud.json")
	files := DemoFiles(filepath.Join(dir, "state"), cloud)
	repo, err := gh.CreateRepo(ctx, owner, repoName, files)
	if err != nil {
		return fmt.Errorf("create sample repo: %w", err)
	}
	url, stop, err := o.StartAtoll(ctx, Target{APIURL: gh.APIURL(), Token: token, WebhookSecret: secret, BotUser: gh.BotUser(),
		DataDir: filepath.Join(dir, "atoll"), Env: env, DriftRepos: repo.FullName(), ReposYAML: demoReposYAML})
	if err != nil {
		return fmt.Errorf("start atoll: %w", err)
	}
	defer stop()
	gh.SetWebhookURL(url + "/events")

	say("Atoll test drive")
	say("  fake GitHub:  %s", gh.URL())
	say("  Atoll:        %s  (locks page; jobs at %s/jobs)", url+"/", url)
	say("")

	w := &walk{ctx: ctx, gh: gh, repo: repo, out: out, timeout: o.StepTimeout}

	say("── Setup: acme/infra's main branch is live (terraform apply of network/ and app/) ──")
	if err := applyMain(ctx, o.Terraform, filepath.Join(dir, "main"), files, env); err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	say("")

	// Step 1: a PR is opened and planned automatically.
	say("── Step 1: alice opens a pull request that adds a resource to network/ ──")
	sha1, err := gh.Push(ctx, repo, "add-web", map[string]string{"network/main.tf": files["network/main.tf"] + webTF}, "network: add web")
	if err != nil {
		return fmt.Errorf("step 1: push: %w", err)
	}
	pr1, err := gh.OpenPull(ctx, repo, "add-web", "main", "Add web server", "alice")
	if err != nil {
		return fmt.Errorf("step 1: open pull request: %w", err)
	}
	if _, err := w.status(sha1, "atoll/plan", vcs.StatusSuccess); err != nil {
		return fmt.Errorf("step 1: autoplan: %w", err)
	}
	if err := w.showComment(pr1, "autoplan", func(b string) bool { return strings.Contains(b, "Plan: 1 to add") }); err != nil {
		return fmt.Errorf("step 1: %w", err)
	}

	// Step 2: a second PR on the same directory is blocked by the lock.
	say("── Step 2: carol opens another pull request on network/; alice holds its lock, so carol's plan is queued ──")
	bigger := func(tf string) string { return strings.Replace(tf, "10.0.0.0/16", "10.0.0.0/8", 1) }
	if _, err := gh.Push(ctx, repo, "bigger-vpc", map[string]string{"network/main.tf": bigger(files["network/main.tf"])}, "network: bigger vpc"); err != nil {
		return fmt.Errorf("step 2: push: %w", err)
	}
	pr2, err := gh.OpenPull(ctx, repo, "bigger-vpc", "main", "Bigger VPC", "carol")
	if err != nil {
		return fmt.Errorf("step 2: open pull request: %w", err)
	}
	if err := w.showComment(pr2, "queued", func(b string) bool {
		return strings.Contains(b, fmt.Sprintf("locked by #%d", pr1)) && strings.Contains(b, "queued (position 1)")
	}); err != nil {
		return fmt.Errorf("step 2: %w", err)
	}

	// Step 3: a stranger is refused; then the reviewed plan is applied.
	say("── Step 3: mallory, who cannot push to the repository, comments `atoll apply` on #%d; Atoll refuses ──", pr1)
	if _, err := gh.Comment(ctx, repo, pr1, "mallory", "atoll apply"); err != nil {
		return fmt.Errorf("step 3: comment: %w", err)
	}
	if err := w.showComment(pr1, "refusal", func(b string) bool { return strings.Contains(b, "@mallory may not run") }); err != nil {
		return fmt.Errorf("step 3: %w", err)
	}
	say("── Step 3: bob approves and comments `atoll apply` on #%d ──", pr1)
	if err := gh.Review(repo, pr1, "bob", "APPROVED"); err != nil {
		return fmt.Errorf("step 3: review: %w", err)
	}
	if _, err := gh.Comment(ctx, repo, pr1, "bob", "atoll apply"); err != nil {
		return fmt.Errorf("step 3: comment: %w", err)
	}
	if _, err := w.status(sha1, "atoll/apply", vcs.StatusSuccess); err != nil {
		return fmt.Errorf("step 3: apply: %w", err)
	}
	if err := w.showComment(pr1, "apply", func(b string) bool { return strings.Contains(b, "Apply complete!") }); err != nil {
		return fmt.Errorf("step 3: %w", err)
	}

	// Step 4: merging releases the lock.
	say("── Step 4: alice merges #%d; Atoll releases its lock and hands it to #%d, which is planned by itself ──", pr1, pr2)
	if err := gh.ClosePull(ctx, repo, pr1, true); err != nil {
		return fmt.Errorf("step 4: merge: %w", err)
	}
	if err := w.showComment(pr1, "release", func(b string) bool { return strings.Contains(strings.ToLower(b), "released") }); err != nil {
		return fmt.Errorf("step 4: %w", err)
	}
	if err := w.showComment(pr2, "handover", func(b string) bool {
		return strings.Contains(b, "This plan was queued") && strings.Contains(b, "to destroy")
	}); err != nil {
		return fmt.Errorf("step 4: %w", err)
	}

	// Step 5: the other PR, brought up to date with main, is planned on push.
	say("── Step 5: #%d lacks alice's web server, so its plan destroys it; carol updates the branch with main and it is planned again ──", pr2)
	sha2, err := gh.UpdateBranch(ctx, repo, pr2)
	if err != nil {
		return fmt.Errorf("step 5: push: %w", err)
	}
	if _, err := w.status(sha2, "atoll/plan", vcs.StatusSuccess); err != nil {
		return fmt.Errorf("step 5: autoplan: %w", err)
	}
	if err := w.showComment(pr2, "plan after release", func(b string) bool {
		return strings.Contains(b, "Plan: 0 to add, 1 to change, 0 to destroy.")
	}); err != nil {
		return fmt.Errorf("step 5: %w", err)
	}

	// Step 6: merge means apply.
	say("── Step 6: carol merges #%d; with apply_on_merge in repos.yaml, Atoll plans the merge commit and applies it ──", pr2)
	if err := gh.ClosePull(ctx, repo, pr2, true); err != nil {
		return fmt.Errorf("step 6: merge: %w", err)
	}
	merge2, err := gh.BranchSHA(repo, "main")
	if err != nil {
		return fmt.Errorf("step 6: %w", err)
	}
	if _, err := w.status(merge2, "atoll/apply", vcs.StatusSuccess); err != nil {
		return fmt.Errorf("step 6: apply on merge: %w", err)
	}
	if err := w.showComment(pr2, "apply on merge", func(b string) bool {
		return strings.Contains(b, "Apply complete!") && strings.Contains(b, "was merged as")
	}); err != nil {
		return fmt.Errorf("step 6: %w", err)
	}

	// Step 7: git revert means rollback.
	say("── Step 7: the bigger VPC was a mistake; bob comments `atoll revert` on #%d and Atoll opens a revert pull request ──", pr2)
	if _, err := gh.Comment(ctx, repo, pr2, "bob", "atoll revert"); err != nil {
		return fmt.Errorf("step 7: comment: %w", err)
	}
	if err := w.showComment(pr2, "revert", func(b string) bool { return strings.Contains(b, "Revert opened") }); err != nil {
		return fmt.Errorf("step 7: %w", err)
	}
	pr3 := pr2 + 1
	revertHead, err := gh.BranchSHA(repo, fmt.Sprintf("atoll/revert-%d", pr2))
	if err != nil {
		return fmt.Errorf("step 7: %w", err)
	}
	if _, err := w.status(revertHead, "atoll/plan", vcs.StatusSuccess); err != nil {
		return fmt.Errorf("step 7: plan of the revert: %w", err)
	}
	if err := w.showComment(pr3, "plan of the rollback", func(b string) bool { return strings.Contains(b, "Plan: 0 to add, 1 to change, 0 to destroy.") }); err != nil {
		return fmt.Errorf("step 7: %w", err)
	}
	say("── Step 8: bob merges the revert #%d; Atoll applies the rollback ──", pr3)
	if err := gh.ClosePull(ctx, repo, pr3, true); err != nil {
		return fmt.Errorf("step 8: merge: %w", err)
	}
	merge3, err := gh.BranchSHA(repo, "main")
	if err != nil {
		return fmt.Errorf("step 8: %w", err)
	}
	if _, err := w.status(merge3, "atoll/apply", vcs.StatusSuccess); err != nil {
		return fmt.Errorf("step 8: apply of the rollback: %w", err)
	}
	if err := w.showComment(pr3, "rollback applied", func(b string) bool { return strings.Contains(b, "Apply complete!") }); err != nil {
		return fmt.Errorf("step 8: %w", err)
	}

	// Step 9: drift.
	say("── Step 9: someone resizes the app server in the cloud console; Atoll's drift check finds it ──")
	if err := sandbox.SetAttribute(cloud, "app", "size", "large"); err != nil {
		return fmt.Errorf("step 9: %w", err)
	}
	if err := w.runDriftCheck(url); err != nil {
		return fmt.Errorf("step 9: %w", err)
	}
	issue, err := w.waitIssue(func(is vcstest.RecordedIssue) bool { return is.State == "open" })
	if err != nil {
		return fmt.Errorf("step 9: %w", err)
	}
	w.printText(fmt.Sprintf("📋 Atoll opened issue #%d %q:", issue.Num, issue.Title), issue.Body)

	// Step 10: remediation from the issue.
	say("── Step 10: bob comments `atoll apply` on issue #%d; Atoll restores Git's state and the issue closes ──", issue.Num)
	if _, err := gh.CommentOnIssue(ctx, repo, issue.Num, "bob", "atoll apply"); err != nil {
		return fmt.Errorf("step 10: %w", err)
	}
	if err := w.showComment(issue.Num, "drift apply", func(b string) bool { return strings.Contains(b, "Apply complete!") }); err != nil {
		return fmt.Errorf("step 10: %w", err)
	}
	closed, err := w.waitIssue(func(is vcstest.RecordedIssue) bool { return is.State == "closed" })
	if err != nil {
		return fmt.Errorf("step 10: %w", err)
	}
	say("✔ issue #%d is closed: %s", closed.Num, firstLine(closed.Body))
	say("")

	say("Test drive complete: plan → queued behind a lock → apply → merge hands the lock over → plan → merge applies → revert rolls back → drift → restored.")
	if o.Stay {
		say("")
		say("Atoll is still running at %s — open it in a browser. Press Ctrl-C to stop.", url+"/")
		<-ctx.Done()
	}
	return nil
}

// DemoFiles are SampleFiles with app/ managing a server of the sandbox provider,
// whose "cloud" is cloudFile: editing that file is a change outside Terraform.
func DemoFiles(stateDir, cloudFile string) map[string]string {
	files := SampleFiles(stateDir)
	files["app/main.tf"] = fmt.Sprintf(`terraform {
  required_providers {
    sandbox = { source = "atoll/sandbox", version = "0.1.0" }
  }
}

provider "sandbox" {
  cloud = %q
}

resource "sandbox_server" "app" {
  name = "app"
  size = "small"
}
`, filepath.ToSlash(cloudFile))
	return files
}

// runDriftCheck asks Atoll to check the repository for drift now.
func (w *walk) runDriftCheck(atollURL string) error {
	req, err := http.NewRequestWithContext(w.ctx, http.MethodPost, atollURL+"/api/drift/run?repo="+w.repo.FullName(), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("start a drift check: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("start a drift check: %s", resp.Status)
	}
	return nil
}

// waitIssue waits for the repository's drift issue to match.
func (w *walk) waitIssue(match func(vcstest.RecordedIssue) bool) (vcstest.RecordedIssue, error) {
	deadline := time.Now().Add(w.timeout)
	for time.Now().Before(deadline) {
		for _, is := range w.gh.Issues(w.repo) {
			if strings.HasPrefix(is.Title, "Drift: ") && match(is) {
				return is, nil
			}
		}
		select {
		case <-w.ctx.Done():
			return vcstest.RecordedIssue{}, w.ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return vcstest.RecordedIssue{}, errors.New("timed out waiting for the drift issue")
}

// printText prints a heading and an indented body.
func (w *walk) printText(heading, body string) {
	fmt.Fprintf(w.out, "\n%s\n", heading)
	for _, line := range strings.Split(strings.TrimRight(body, "\n"), "\n") {
		fmt.Fprintf(w.out, "  │ %s\n", line)
	}
	fmt.Fprintln(w.out)
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return strings.TrimLeft(s, "# ")
}

// webTF is the resource alice's pull request adds.
const webTF = `
resource "terraform_data" "web" {
  input = "v1"
}
`

// applyMain applies every project of the sample repo's first commit, as the
// team's existing infrastructure.
func applyMain(ctx context.Context, tf string, dir string, files map[string]string, env []string) error {
	if tf == "" {
		tf = "terraform"
	}
	projects := map[string]bool{}
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			return err
		}
		if strings.HasSuffix(name, ".tf") {
			projects[filepath.Dir(p)] = true
		}
	}
	for p := range projects {
		for _, args := range [][]string{{"init", "-input=false", "-no-color"}, {"apply", "-input=false", "-no-color", "-auto-approve"}} {
			cmd := exec.CommandContext(ctx, tf, args...)
			cmd.Dir, cmd.Env = p, env
			if out, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("terraform %s in %s: %w\n%s", args[0], p, err, out)
			}
		}
	}
	return nil
}

// walk holds what the steps share.
type walk struct {
	ctx     context.Context
	gh      *vcstest.Server
	repo    vcs.Repo
	out     io.Writer
	timeout time.Duration
}

func (w *walk) status(sha, name string, want vcs.StatusState) (vcs.Status, error) {
	ctx, cancel := context.WithTimeout(w.ctx, w.timeout)
	defer cancel()
	st, err := w.gh.WaitStatus(ctx, w.repo, sha, name, want)
	if err != nil {
		last := w.gh.Statuses(w.repo, sha)
		detail := "no status was set"
		if len(last) > 0 {
			l := last[len(last)-1]
			detail = fmt.Sprintf("last status %s %s: %s", l.Context, l.State, l.Description)
		}
		return st, fmt.Errorf("waiting for %s %s: %w (%s)", name, want, err, detail)
	}
	fmt.Fprintf(w.out, "\n✔ commit %s: status %s is %s (%s)\n", sha[:7], st.Context, st.State, st.Description)
	return st, nil
}

// showComment waits for a comment on PR num matching match and prints it.
func (w *walk) showComment(num int, what string, match func(string) bool) error {
	ctx, cancel := context.WithTimeout(w.ctx, w.timeout)
	defer cancel()
	c, err := w.gh.WaitComment(ctx, w.repo, num, func(c vcstest.RecordedComment) bool { return match(c.Body) })
	if err != nil {
		var bodies []string
		for _, c := range w.gh.Comments(w.repo, num) {
			bodies = append(bodies, c.Body)
		}
		return fmt.Errorf("waiting for the %s comment on #%d: %w; comments so far:\n%s", what, num, err, strings.Join(bodies, "\n---\n"))
	}
	fmt.Fprintf(w.out, "\n💬 @%s commented on #%d:\n", c.User, num)
	for _, line := range strings.Split(strings.TrimRight(c.Body, "\n"), "\n") {
		fmt.Fprintf(w.out, "  │ %s\n", line)
	}
	fmt.Fprintln(w.out)
	return nil
}

// terraformEnv is base with a CLI config of the test drive's own (the machine's
// may point at a missing file) that installs the sandbox provider from a local
// mirror, and no checkpoint calls.
func terraformEnv(dir string, base []string, provider string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create work dir: %w", err)
	}
	if provider == "" {
		return nil, errors.New("the sandbox provider binary is needed (build it with `make testdrive`, or pass --sandbox-provider)")
	}
	mirror := filepath.Join(dir, "mirror")
	if err := sandbox.InstallMirror(provider, mirror); err != nil {
		return nil, fmt.Errorf("install the sandbox provider: %w", err)
	}
	rc := filepath.Join(dir, "terraformrc")
	if err := os.WriteFile(rc, []byte(sandbox.CLIConfig(mirror)), 0o644); err != nil {
		return nil, fmt.Errorf("write terraform cli config: %w", err)
	}
	env := append(append([]string(nil), base...), "TF_CLI_CONFIG_FILE="+rc, "CHECKPOINT_DISABLE=1")
	return env, nil
}
