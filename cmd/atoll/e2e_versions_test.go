package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/atollhq/atoll/internal/releasestest"
	"github.com/atollhq/atoll/internal/testenv"
	"github.com/atollhq/atoll/testdrive"
	"github.com/atollhq/atoll/vcs"
)

// TestE2EVersionsOnDemand runs the real binary against a local releases
// mirror signed with the test's own key (--tf-download-url,
// --tf-download-key-file). The default binary is a stand-in for terraform
// 1.4.0 that cannot plan; one project pins terraform_version 1.5.7 and the
// other's required_version (>= 1.5.0) resolves, through the mirror's index,
// to the same release. Both plan with the terraform downloaded once into
// --data-dir/bin.
func TestE2EVersionsOnDemand(t *testing.T) {
	t.Parallel()
	gh := fakeGitHub(t)
	ctx := waitCtx(t)
	m := releasestest.New(t)
	m.AddTerraformBinary(t, "1.5.7", testenv.Terraform(t))
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "mirror.asc")
	if err := os.WriteFile(keyFile, []byte(m.Key), 0o600); err != nil {
		t.Fatal(err)
	}
	old := filepath.Join(dir, "terraform")
	if err := os.WriteFile(old, []byte("#!/bin/sh\nif [ \"$1\" = version ]; then echo 'Terraform v1.4.0'; exit 0; fi\necho 'the default terraform must not run' >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	dataDir := t.TempDir()
	startAtoll(t, gh, dataDir, "--tf-binary", old, "--tf-download-url", m.URL(), "--tf-download-key-file", keyFile)
	files := testdrive.SampleFiles(t.TempDir())
	files["atoll.yaml"] = "version: 3\nprojects:\n- name: net\n  dir: network\n  terraform_version: v1.5.7\n- name: app\n  dir: app\n"
	repo, err := gh.CreateRepo(ctx, "acme", "versions", files)
	if err != nil {
		t.Fatal(err)
	}
	sha, err := gh.Push(ctx, repo, "both", map[string]string{
		"network/main.tf": files["network/main.tf"] + webTF,
		"app/main.tf":     files["app/main.tf"] + "\nresource \"terraform_data\" \"worker\" {\n  input = \"v1\"\n}\n",
	}, "both")
	if err != nil {
		t.Fatal(err)
	}
	pr, err := gh.OpenPull(ctx, repo, "both", "main", "Both", "alice")
	if err != nil {
		t.Fatal(err)
	}
	waitStatus(t, gh, repo, sha, "atoll/plan", vcs.StatusSuccess)
	c := waitComment(t, gh, repo, pr, "Plan: 2 to add")
	if !strings.Contains(c.Body, "`net`") || !strings.Contains(c.Body, "`app`") || strings.Contains(c.Body, "must not run") {
		t.Errorf("plan comment:\n%s", c.Body)
	}
	if n := m.Zips(); n != 1 {
		t.Errorf("%d downloads of terraform 1.5.7, want 1", n)
	}
	if m.Hits("/terraform/index.json") != 1 {
		t.Errorf("the releases index was read %d times, want once (for app's constraint)", m.Hits("/terraform/index.json"))
	}
	bin := filepath.Join(dataDir, "bin", "terraform", "1.5.7", "terraform")
	if fi, err := os.Stat(bin); err != nil || fi.Size() < 1<<20 {
		t.Errorf("cached terraform %s: %v", bin, err)
	}
}
