package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestE2EValidate runs the built binary's `atoll validate` as a repository's
// CI would. Without --repo-config, keys a server may allow are warnings (exit
// 0) and what is invalid anywhere is an error (exit 1); with --repo-config the
// file is checked against that server's settings.
func TestE2EValidate(t *testing.T) {
	t.Parallel()
	bin := atollBinary(t)
	dir := t.TempDir()
	write := func(name, body string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	overrides := write("atlantis.yaml", `version: 3
projects:
- name: network
  dir: network
  apply_requirements: [approved, mergeable]
  repo_locking: false
  delete_source_branch_on_merge: true
`)
	invalid := write("invalid.yaml", `version: 3
projects:
- dir: network
  custom_policy_check: true
workflows:
  checks:
    policy_check:
      steps:
      - show
      - run: conftest test $SHOWFILE
`)
	strictRepos := write("repos.yaml", "repos:\n- id: /.*/\n  apply_requirements: [approved]\n")
	allowingRepos := write("allowing.yaml", "repos:\n- id: /.*/\n  allowed_overrides: [apply_requirements, repo_locking, delete_source_branch_on_merge]\n")
	conftestRepos := write("conftest.yaml", "policies:\n  conftest_version: v0.46.0\n  policy_sets:\n  - {name: base, path: policies, source: local}\n")
	authzRepos := write("authz.yaml", "team_authz:\n  command: /usr/local/bin/authz\nmetrics:\n  statsd: {host: 127.0.0.1, port: \"8125\"}\n")

	tests := []struct {
		name   string
		args   []string
		code   int
		stdout []string
		stderr []string
		notErr []string
	}{
		{"server-dependent keys are warnings without --repo-config", []string{overrides}, 0,
			[]string{"atlantis.yaml: ok (3 warnings: settings the server must allow; check them with --repo-config repos.yaml)"},
			[]string{
				"atlantis.yaml:5:3: warning: projects[0].apply_requirements: works only if the server allows it: its repos.yaml must list apply_requirements in allowed_overrides for this repo",
				"atlantis.yaml:6:3: warning: projects[0].repo_locking: works only if the server allows it",
				"atlantis.yaml:7:3: warning: projects[0].delete_source_branch_on_merge: works only if the server allows it",
			}, nil},
		{"invalid anywhere is an error", []string{invalid}, 1, nil,
			[]string{
				"invalid.yaml:4:24: projects[0].custom_policy_check: true is not supported yet",
				"invalid.yaml:10:9: workflows.checks.policy_check.steps[1]: a policy_check stage may have only the show and policy_check steps",
			}, []string{"warning"}},
		{"a strict server refuses the overrides", []string{"--repo-config", strictRepos, overrides}, 1,
			[]string{"repos.yaml: ok"},
			[]string{"atlantis.yaml:5:3: projects[0].apply_requirements: the server does not allow repos to override apply_requirements (an admin can add it to allowed_overrides in repos.yaml)"},
			[]string{"warning"}},
		{"a server allowing them accepts the file", []string{"--repo-config", allowingRepos, overrides}, 0,
			[]string{"allowing.yaml: ok", "atlantis.yaml: ok"}, nil, []string{"warning", "does not allow"}},
		{"a key without effect is a warning", []string{"--repo-config", conftestRepos}, 0,
			[]string{"conftest.yaml: ok (1 warning: keys without effect in Atoll)"},
			[]string{"conftest.yaml:2:3: warning: policies.conftest_version: has no effect: Atoll checks policies in-process with OPA, not with a conftest binary"}, nil},
		{"unsupported server keys are errors", []string{"--repo-config", authzRepos}, 1, nil,
			[]string{"authz.yaml:2:3: team_authz: not supported yet", "authz.yaml:4:3: metrics.statsd: Atoll does not send statsd metrics"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := runBinary(t, bin, dir, append([]string{"validate"}, tt.args...)...)
			if code != tt.code {
				t.Errorf("exit code %d, want %d", code, tt.code)
			}
			for _, s := range tt.stdout {
				if !strings.Contains(stdout, s) {
					t.Errorf("stdout lacks %q", s)
				}
			}
			for _, s := range tt.stderr {
				if !strings.Contains(stderr, s) {
					t.Errorf("stderr lacks %q", s)
				}
			}
			for _, s := range tt.notErr {
				if strings.Contains(stderr, s) {
					t.Errorf("stderr has %q", s)
				}
			}
			if t.Failed() {
				t.Logf("atoll validate %s\nstdout:\n%s\nstderr:\n%s", strings.Join(tt.args, " "), stdout, stderr)
			}
		})
	}

	// With no file named, the repository's atlantis.yaml is checked, as in CI.
	repo := t.TempDir()
	if err := os.WriteFile(filepath.Join(repo, "atlantis.yaml"), []byte("version: 3\nprojects:\n- dir: network\n  apply_requirements: []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runBinary(t, bin, repo, "validate")
	t.Logf("atoll validate in a repository:\nstdout:\n%s\nstderr:\n%s", stdout, stderr)
	if code != 0 || !strings.Contains(stdout, "atlantis.yaml: ok (1 warning") ||
		!strings.Contains(stderr, "atlantis.yaml:4:3: warning: projects[0].apply_requirements") {
		t.Errorf("atoll validate in a repository = %d, want 0 with one warning", code)
	}
}

// runBinary runs bin with args in dir and returns its exit code and output.
func runBinary(t *testing.T, bin, dir string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, stdout.String(), stderr.String()
	case errors.As(err, &exit):
		return exit.ExitCode(), stdout.String(), stderr.String()
	}
	t.Fatalf("run %s: %v", bin, err)
	return 0, "", ""
}
