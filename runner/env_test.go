package runner

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/atollhq/atoll/config"
	"github.com/atollhq/atoll/internal/testenv"
	"github.com/atollhq/atoll/redact"
	"github.com/google/go-cmp/cmp"
)

func TestChildEnv(t *testing.T) {
	t.Parallel()
	const secret = "hunter2-is-a-long-secret"
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	key := string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}))
	keyLine := strings.Split(key, "\n")[1]
	red := redact.New(secret, key, "short")

	user := []string{
		"PATH=/usr/local/bin:/usr/bin:/bin",
		"HOME=/home/atoll",
		"AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE",
		"AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
		"TF_VAR_region=eu-west-1",
		"TF_CLI_CONFIG_FILE=/etc/terraformrc",
		"HTTPS_PROXY=http://proxy:3128",
		"https_proxy=http://proxy:3128",
		"GITHUB_TOKEN=ghp_UsersOwnTokenForTheGitHubProvider00", // the user's, not Atoll's
		"ATOLLISH=kept",                                        // no underscore after ATOLL
		"MY_ATOLL_THING=kept",                                  // not a prefix
		"SHORT=short",                                          // secrets under 8 characters are ignored
		"EMPTY=",                                               // empty values are kept
		"NOEQUALS",                                             // malformed entries pass as they are
		"GIT_SSH_COMMAND=ssh -i /keys/deploy",
	}
	tests := []struct {
		name string
		in   []string
		want []string
	}{
		{"user variables pass", user, user},
		{"own settings", append([]string{
			"ATOLL_GH_TOKEN=x", "ATOLL_WEB_PASSWORD=y", "ATLANTIS_GH_TOKEN=z", "atoll_lower=1", "Atlantis_Mixed=2",
			"ATOLL_TF_SHIM_BINARY=/bin/terraform", "ATOLL_=",
		}, user...), user},
		{"secret values", append([]string{
			"CI_TOKEN=" + secret,
			"URL=https://x-access-token:" + secret + "@github.com/acme/infra",
			"BASIC=Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte("x-access-token:"+secret)),
			"QUOTED=\"" + secret + "\"",
			"APP_KEY=" + key,
			"KEY_LINE=" + keyLine,
		}, user...), user},
		{"git config with a secret goes whole", append([]string{
			"GIT_CONFIG_COUNT=2",
			"GIT_CONFIG_KEY_0=http.https://github.com/.extraHeader",
			"GIT_CONFIG_VALUE_0=Authorization: Bearer " + secret,
			"GIT_CONFIG_KEY_1=core.autocrlf",
			"GIT_CONFIG_VALUE_1=false",
		}, user...), user},
		{"git config without a secret stays", []string{"GIT_CONFIG_COUNT=1", "GIT_CONFIG_KEY_0=core.autocrlf", "GIT_CONFIG_VALUE_0=false"},
			[]string{"GIT_CONFIG_COUNT=1", "GIT_CONFIG_KEY_0=core.autocrlf", "GIT_CONFIG_VALUE_0=false"}},
		{"empty", nil, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(tt.want, childEnv(tt.in, red)); diff != "" {
				t.Errorf("childEnv (-want +got):\n%s", diff)
			}
		})
	}
	// Without secrets, only the names count.
	if diff := cmp.Diff([]string{"CI_TOKEN=" + secret}, childEnv([]string{"ATOLL_X=1", "CI_TOKEN=" + secret}, nil)); diff != "" {
		t.Errorf("childEnv without secrets (-want +got):\n%s", diff)
	}
}

// envTF prints terraform's own environment in the plan.
const envTF = `
variable "x" {
  type = string
}

output "x" {
  value = var.x
}

output "env" {
  value = replace(file("/proc/self/environ"), "\u0000", "\n")
}
`

// The server's environment holds Atoll's settings and secrets; no child
// process may see them, while the user's variables still pass and git still
// authenticates with the token it is given.
func TestRunHidesAtollEnvironment(t *testing.T) {
	t.Parallel()
	const (
		token         = "ghs_EnvFilterToken0123456789abcdefXY"
		apiSecret     = "api-secret-for-the-env-test-42"
		atlantisToken = "atlantis-token-not-listed-anywhere"
		awsKey        = "AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE"
		tfVar         = "TF_VAR_x=visible-tf-var"
	)
	g := newGitRepo(t, map[string]string{"main.tf": envTF})
	sha := g.git(g.work, "rev-parse", "HEAD")
	srv := serveGitHTTP(t, filepath.Dir(g.bare), token)
	repo := g.repo()
	repo.CloneURL = srv.URL + "/origin.git"

	shim, err := os.Executable() // this test binary, see TestMain
	if err != nil {
		t.Fatal(err)
	}
	env := append(testenv.TerraformEnv(t),
		"ATOLL_GH_TOKEN="+token,
		"ATOLL_API_SECRET="+apiSecret,
		"ATLANTIS_GH_TOKEN="+atlantisToken,
		"CI_DEPLOY_TOKEN="+apiSecret, // not Atoll's name, but Atoll's secret
		awsKey,
		tfVar,
	)
	r, err := New(Config{
		DataDir:   t.TempDir(),
		Git:       testenv.Git(t),
		Terraform: testenv.Terraform(t),
		Env:       env,
		Secrets:   []string{token, apiSecret, "", "short"},
		Shim:      shim,
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	// git still gets the token: through Checkout, not the environment.
	dir, err := r.Checkout(context.Background(), Checkout{BaseRepo: repo, HeadCloneURL: repo.CloneURL, HeadBranch: "main",
		HeadSHA: sha, Pull: 3, Token: token})
	if err != nil {
		t.Fatalf("Checkout with token: %v", err)
	}

	hidden := []string{"ATOLL_", "ATLANTIS_", "CI_DEPLOY_TOKEN", token, apiSecret, atlantisToken, "GIT_CONFIG"}
	check := func(t *testing.T, what, out string) {
		t.Helper()
		if !strings.Contains(out, "PATH=") {
			t.Fatalf("%s shows no environment:\n%s", what, out)
		}
		for _, h := range hidden {
			if strings.Contains(out, h) {
				t.Errorf("%s shows %q:\n%s", what, h, out)
			}
		}
		for _, want := range []string{awsKey, tfVar} {
			if !strings.Contains(out, want) {
				t.Errorf("%s lacks %q:\n%s", what, want, out)
			}
		}
	}

	t.Run("run and env steps", func(t *testing.T) {
		res, err := r.Run(context.Background(), Job{Dir: dir, ProjectDir: ".", Steps: []config.Step{
			{Kind: config.StepEnv, EnvName: "ENV_STEP_SAW", Run: "env"},
			{Kind: config.StepRun, Run: "env"},
			{Kind: config.StepRun, Run: `printf '%s\n' "$ENV_STEP_SAW"`},
		}})
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		check(t, "run step", res.Steps[1].Output)
		check(t, "env step", res.Steps[2].Output)
	})

	t.Run("terraform", func(t *testing.T) {
		res, err := r.Run(context.Background(), Job{Dir: dir, ProjectDir: ".", Steps: planSteps(),
			PlanFile: r.PlanPath(repo, 3, ".", "default")})
		if err != nil {
			t.Fatalf("plan: %v", err)
		}
		if !strings.Contains(res.Output, `x   = "visible-tf-var"`) {
			t.Errorf("plan did not use TF_VAR_x:\n%s", res.Output)
		}
		check(t, "terraform plan", res.Output)
	})
}
