package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/atollhq/atoll/testdrive"
	"github.com/atollhq/atoll/vcs"
	"github.com/atollhq/atoll/vcs/vcstest"
)

// TestE2EGitHubApp runs atoll authenticated only as a GitHub App (plans and
// applies are check runs too, and their Re-run plans again): the fake
// GitHub has no static token, so every REST call and every git clone and
// fetch must carry an installation token that atoll obtained by signing a
// JWT with the app's private key. A PR is planned and applied, and the
// installation tokens, the JWT and the key never show up in the server's
// log, the comments or the data directory.
func TestE2EGitHubApp(t *testing.T) {
	t.Parallel()
	const appID, installation = 31337, 4711
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	keyFile := filepath.Join(t.TempDir(), "app.pem")
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	gh, err := vcstest.New(vcstest.Options{
		Dir:                t.TempDir(),
		WebhookSecret:      e2eSecret,
		AppID:              appID,
		AppPublicKey:       &key.PublicKey,
		AppInstallationIDs: []int64{installation},
		BasePermissions:    teamMembers,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(gh.Close)
	ctx := waitCtx(t)
	dataDir := t.TempDir()
	// ATOLL_GH_TOKEN= overrides the harness's token: the App is the only credential.
	atoll := startAtollEnv(t, gh, dataDir, []string{"ATOLL_GH_TOKEN="},
		"--gh-app-id", fmt.Sprint(appID), "--gh-app-key-file", keyFile,
		"--gh-app-installation-id", fmt.Sprint(installation))

	repo, err := gh.CreateRepo(ctx, "acme", "infra", testdrive.SampleFiles(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	sha, err := gh.Push(ctx, repo, "add-web", map[string]string{"network/web.tf": webTF}, "add web")
	if err != nil {
		t.Fatal(err)
	}
	pr, err := gh.OpenPull(ctx, repo, "add-web", "main", "Add web", "alice")
	if err != nil {
		t.Fatal(err)
	}
	waitStatus(t, gh, repo, sha, "atoll/plan", vcs.StatusSuccess)
	plan := waitComment(t, gh, repo, pr, "Plan: 2 to add, 0 to change, 0 to destroy.")
	if !strings.Contains(plan.Body, "terraform_data.web") {
		t.Errorf("plan comment lacks terraform_data.web:\n%s", plan.Body)
	}
	if plan.User != gh.BotUser() {
		t.Errorf("plan comment by %q, want %q", plan.User, gh.BotUser())
	}
	// As an App, each project's plan is also a check run, whose "Re-run"
	// plans that project again (as `atoll plan -d network`, with the same
	// permission check).
	run := waitCheckRun(t, gh, repo, sha, "atoll/plan: network (default)", 1)
	if run.Conclusion != "success" || run.Title != "Plan: 2 to add, 0 to change, 0 to destroy." ||
		!strings.Contains(run.Text, "terraform_data.web") || !strings.Contains(run.DetailsURL, "/jobs/") {
		t.Errorf("plan check run = %+v", run)
	}
	if err := gh.RerequestCheckRun(ctx, repo, run.ID, "mallory"); err != nil {
		t.Fatal(err)
	}
	waitComment(t, gh, repo, pr, "@mallory may not run `atoll plan`")
	if err := gh.RerequestCheckRun(ctx, repo, run.ID, "carol"); err != nil {
		t.Fatal(err)
	}
	waitCheckRun(t, gh, repo, sha, "atoll/plan: network (default)", 2)
	if n := countComments(gh, repo, pr, "Plan: 2 to add, 0 to change, 0 to destroy."); n != 2 {
		t.Errorf("%d plan comments after the Re-run, want 2", n)
	}
	if _, err := gh.Comment(ctx, repo, pr, "bob", "atoll apply"); err != nil {
		t.Fatal(err)
	}
	waitComment(t, gh, repo, pr, "Apply complete! Resources: 2 added, 0 changed, 0 destroyed.")
	waitStatus(t, gh, repo, sha, "atoll/apply", vcs.StatusSuccess)
	if run := waitCheckRun(t, gh, repo, sha, "atoll/apply: network (default)", 1); run.Conclusion != "success" ||
		run.Title != "Apply complete! Resources: 2 added, 0 changed, 0 destroyed." {
		t.Errorf("apply check run = %+v", run)
	}

	// The fake accepted nothing but installation tokens, so these counts are
	// what atoll did as the app.
	issued := gh.IssuedTokens()
	if len(issued) == 0 {
		t.Fatal("atoll never asked for an installation token")
	}
	var api, git int
	for _, it := range issued {
		if it.InstallationID != installation {
			t.Errorf("token issued for installation %d, want %d", it.InstallationID, installation)
		}
		api += it.APIRequests
		git += it.GitRequests
	}
	if api == 0 || git == 0 {
		t.Errorf("installation tokens used for %d REST and %d git requests, want both", api, git)
	}

	// No secret leaks: not the tokens, the JWT or the key.
	keyBody := strings.Split(string(keyPEM), "\n")[1] // the first line of base64
	secrets := []string{"ghs_", "eyJhbGciOi", keyBody}
	for _, it := range issued {
		secrets = append(secrets, it.Token)
	}
	atoll.Stop() // flush the log
	log, comments := atoll.log.String(), joinBodies(gh, repo, pr)
	for _, run := range gh.CheckRuns(repo, sha) {
		comments += run.Title + run.Summary + run.Text
	}
	for _, s := range secrets {
		if strings.Contains(log, s) {
			t.Errorf("server log contains a secret (%.8s...)", s)
		}
		if strings.Contains(comments, s) {
			t.Errorf("a PR comment contains a secret (%.8s...)", s)
		}
	}
	// On disk only the exact secrets: a bare prefix could occur by chance in
	// a binary plan file.
	assertNoSecretsOnDisk(t, dataDir, secrets[2:])
}

// waitCheckRun waits until sha of repo has at least n check runs named name
// and returns the last.
func waitCheckRun(t *testing.T, gh *vcstest.Server, repo vcs.Repo, sha, name string, n int) vcstest.RecordedCheckRun {
	t.Helper()
	var last vcstest.RecordedCheckRun
	waitFor(t, func() bool {
		count := 0
		for _, run := range gh.CheckRuns(repo, sha) {
			if run.Name == name {
				count, last = count+1, run
			}
		}
		return count >= n
	}, fmt.Sprintf("%d check run(s) %q", n, name))
	return last
}
