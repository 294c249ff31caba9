package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestValidateCommand(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.yaml", "version: 3\nprojects:\n- dir: network\n")
	bad := write("bad.yaml", "version: 3\nprojects:\n- dir: network\n  wrkspace: staging\n")
	override := write("override.yaml", "version: 3\nprojects:\n- dir: network\n  apply_requirements: []\n")
	repos := write("repos.yaml", "repos:\n- id: /.*/\n  apply_requirements: [approved]\n")
	badRepos := write("bad-repos.yaml", "repos:\n- id: /.*/\n  apply_requirements: [aproved]\n")
	tests := []struct {
		name       string
		args       []string
		code       int
		out, errIn string
	}{
		{"valid repo config", []string{good}, 0, "good.yaml: ok", ""},
		{"unknown key with position", []string{bad}, 1, "", "bad.yaml:4:3: projects[0].wrkspace: unknown key"},
		{"valid server config", []string{"--repo-config", repos}, 0, "repos.yaml: ok", ""},
		{"invalid server config", []string{"--repo-config", badRepos}, 1, "", "bad-repos.yaml:3:24: repos[0].apply_requirements[0]"},
		{"override refused by server", []string{"--repo-config", repos, override}, 1, "", "apply_requirements"},
		{"missing file", []string{filepath.Join(dir, "nope.yaml")}, 1, "", "no such file"},
		{"bad flag", []string{"--nope"}, 2, "", "flag provided but not defined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var out, errOut bytes.Buffer
			code := run(append([]string{"validate"}, tt.args...), &out, &errOut)
			if code != tt.code || !strings.Contains(out.String(), tt.out) || !strings.Contains(errOut.String(), tt.errIn) {
				t.Errorf("atoll validate %v = %d\nstdout: %s\nstderr: %s\nwant %d, stdout containing %q, stderr containing %q",
					tt.args, code, out.String(), errOut.String(), tt.code, tt.out, tt.errIn)
			}
		})
	}
}

// TestFlagPrecedence: flag > ATOLL_* > ATLANTIS_* environment > --config file > default.
func TestFlagPrecedence(t *testing.T) {
	t.Parallel()
	cfgFile := filepath.Join(t.TempDir(), "atoll.yaml")
	if err := os.WriteFile(cfgFile, []byte("port: 5000\ngh-user: from-file\nrepo-allowlist: [github.com/a/*, github.com/b/*]\nlog-level: warn\nmax-parallel-jobs: 8\nweb-basic-auth: true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	var o serverOptions
	o.register(fs)
	if err := fs.Parse([]string{"--log-level", "debug"}); err != nil {
		t.Fatal(err)
	}
	// An Atlantis deployment's ATLANTIS_* variables count when the ATOLL_*
	// one is unset.
	env := map[string]string{"ATOLL_GH_USER": "from-env", "ATLANTIS_GH_USER": "from-atlantis", "ATOLL_CLUSTER_LEASE": "5s",
		"ATOLL_ALLOW_FORK_PRS": "true", "ATLANTIS_GH_HOSTNAME": "ghe.acme.dev"}
	fromAtlantis, err := applyEnvAndFile(fs, func(k string) (string, bool) { v, ok := env[k]; return v, ok }, cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"ATLANTIS_GH_HOSTNAME"}, fromAtlantis); d != "" {
		t.Errorf("ATLANTIS_* variables used (-want +got):\n%s", d)
	}
	got := map[string]any{"port": o.Port, "gh-user": o.GHUser, "allowlist": splitList(o.RepoAllowlist), "log": o.LogLevel,
		"jobs": o.MaxParallelJobs, "basic": o.WebBasicAuth, "lease": o.ClusterLease, "hostname": o.GHHostname,
		"forks": o.AllowForkPRs}
	want := map[string]any{"port": 5000, "gh-user": "from-env", "allowlist": []string{"github.com/a/*", "github.com/b/*"}, "log": "debug",
		"jobs": 8, "basic": true, "lease": 5 * time.Second, "hostname": "ghe.acme.dev", "forks": true}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("options (-want +got):\n%s", d)
	}

	if err := os.WriteFile(cfgFile, []byte("prot: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fs2 := flag.NewFlagSet("t", flag.ContinueOnError)
	var o2 serverOptions
	o2.register(fs2)
	if _, err := applyEnvAndFile(fs2, func(string) (string, bool) { return "", false }, cfgFile); err == nil || !strings.Contains(err.Error(), "unknown keys prot") {
		t.Errorf("unknown config key: err = %v, want it named", err)
	}
}

func TestServerOptionsValidate(t *testing.T) {
	t.Parallel()
	base := func() serverOptions {
		return serverOptions{Port: 4141, RepoAllowlist: "*", GHToken: "x", LockingDBType: "boltdb", LogLevel: "info", GHTimeout: time.Minute}
	}
	tests := []struct {
		name   string
		mutate func(*serverOptions)
		errIn  string
	}{
		{"ok", func(*serverOptions) {}, ""},
		{"no allowlist", func(o *serverOptions) { o.RepoAllowlist = "" }, "--repo-allowlist is required"},
		{"no credentials", func(o *serverOptions) { o.GHToken = "" }, "set --gh-token"},
		{"redis without host", func(o *serverOptions) { o.LockingDBType = "redis" }, "needs --redis-host"},
		{"bad db type", func(o *serverOptions) { o.LockingDBType = "sqlite" }, "must be boltdb or redis"},
		{"basic auth without password", func(o *serverOptions) { o.WebBasicAuth = true }, "needs --web-password"},
		{"bad log level", func(o *serverOptions) { o.LogLevel = "loud" }, "--log-level"},
		{"bad port", func(o *serverOptions) { o.Port = 70000 }, "out of range"},
		{"bad distribution", func(o *serverOptions) { o.DefaultDist = "pulumi" }, "--default-tf-distribution must be terraform or opentofu"},
		{"no github timeout", func(o *serverOptions) { o.GHTimeout = 0 }, "--gh-timeout must be positive"},
		{"negative step timeout", func(o *serverOptions) { o.StepTimeout = -time.Second }, "--step-timeout and --kill-grace must not be negative"},
		{"unknown command permission", func(o *serverOptions) { o.CommandPermission = "owner" }, "--command-permission must be"},
	}
	for _, tt := range tests {
		o := base()
		tt.mutate(&o)
		err := o.validate()
		if (tt.errIn == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.errIn)) {
			t.Errorf("%s: validate() = %v, want error containing %q", tt.name, err, tt.errIn)
		}
	}
}

func TestServerRefusesBadFlagsWithoutStarting(t *testing.T) {
	t.Parallel()
	var out, errOut bytes.Buffer
	if code := run([]string{"server", "--gh-token", "x"}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "--repo-allowlist is required") {
		t.Errorf("atoll server without an allowlist = %d, %q", code, errOut.String())
	}
	if strings.Contains(errOut.String(), "x\n") {
		t.Errorf("error output echoes the token: %q", errOut.String())
	}
	errOut.Reset()
	if code := run([]string{"drift", "--gh-token", "x", "--repo-allowlist", "*"}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "--gh-token is a flag for checking GitHub repositories: add --drift-repos") {
		t.Errorf("atoll drift without repos = %d, %q", code, errOut.String())
	}
	if code := run([]string{"version"}, &out, &errOut); code != 0 || !strings.HasPrefix(out.String(), "atoll ") {
		t.Errorf("atoll version = %d, %q", code, out.String())
	}
}
