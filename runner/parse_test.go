package runner

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/atollhq/atoll/config"
	"github.com/google/go-cmp/cmp"
	tfjson "github.com/hashicorp/terraform-json"
)

func TestParseTFArgs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    []string
		command string // which option builder to run
		wantErr string
		wantN   int // number of options built
	}{
		{"plan vars and targets", []string{"-var", "a=b", "-var=c=d", "-var-file=x.tfvars", "-target=aws_vpc.main", "--refresh=false", "-parallelism=3", "-destroy"}, "plan", "", 7},
		{"plan lock", []string{"-lock=false", "-lock-timeout", "10s"}, "plan", "", 2},
		{"apply lock only", []string{"-lock-timeout=5s"}, "apply", "", 1},
		{"apply refuses var", []string{"-var", "a=b"}, "apply", `terraform apply does not take "-var"`, 0},
		{"init backend config", []string{"-backend-config=key=x", "-upgrade", "-reconfigure"}, "init", "", 3},
		{"init refuses target", []string{"-target=x"}, "init", "does not take", 0},
		{"import vars", []string{"-var-file=a.tfvars"}, "import", "", 1},
		{"unknown flag", []string{"-chdir=/"}, "plan", `"-chdir" is not supported`, 0},
		{"positional", []string{"destroy"}, "plan", "not a flag", 0},
		{"missing value", []string{"-var"}, "plan", "needs a value", 0},
		{"bad bool", []string{"-refresh=maybe"}, "plan", "true or false", 0},
		{"bad int", []string{"-parallelism=0"}, "plan", "positive number", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := parseTFArgs(tt.args)
			n := 0
			if err == nil {
				switch tt.command {
				case "plan":
					opts, e := a.planOptions()
					n, err = len(opts), e
				case "apply":
					opts, e := a.applyOptions()
					n, err = len(opts), e
				case "init":
					opts, e := a.initOptions()
					n, err = len(opts), e
				case "import":
					opts, e := a.importOptions()
					n, err = len(opts), e
				}
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || n != tt.wantN {
				t.Errorf("got %d options, err %v; want %d", n, err, tt.wantN)
			}
		})
	}
}

// TestCommandOptionsTakeEveryAllowedFlag gives each command every flag it
// accepts and checks each becomes the matching tfexec option, in order: the
// flag lists and the flag-to-option table must agree.
func TestCommandOptionsTakeEveryAllowedFlag(t *testing.T) {
	t.Parallel()
	value := map[flagKind]string{flagBool: "", flagString: "=5s", flagList: "=x", flagInt: "=2"}
	tests := []struct {
		command string
		allowed []string
		want    []string // option types, in order
	}{
		{"init", initFlags, []string{"*tfexec.BackendOption", "*tfexec.BackendConfigOption", "*tfexec.UpgradeOption", "*tfexec.ReconfigureOption", "*tfexec.ForceCopyOption", "*tfexec.GetOption", "*tfexec.PluginDirOption"}},
		{"plan", planFlags, []string{"*tfexec.VarOption", "*tfexec.VarFileOption", "*tfexec.TargetOption", "*tfexec.ReplaceOption", "*tfexec.DestroyFlagOption", "*tfexec.RefreshOption", "*tfexec.RefreshOnlyOption", "*tfexec.LockOption", "*tfexec.LockTimeoutOption", "*tfexec.ParallelismOption"}},
		{"apply", applyFlags, []string{"*tfexec.LockOption", "*tfexec.LockTimeoutOption", "*tfexec.ParallelismOption"}},
		{"import", importFlags, []string{"*tfexec.VarOption", "*tfexec.VarFileOption", "*tfexec.LockOption", "*tfexec.LockTimeoutOption"}},
	}
	for _, tt := range tests {
		t.Run(tt.command, func(t *testing.T) {
			var args []string
			for _, name := range slices.Backward(tt.allowed) {
				args = append(args, "-"+name+value[tfFlags[name]])
			}
			a, err := parseTFArgs(args)
			if err != nil {
				t.Fatalf("parse %q: %v", args, err)
			}
			var got []string
			switch tt.command {
			case "init":
				got, err = optionTypes(a.initOptions())
			case "plan":
				got, err = optionTypes(a.planOptions())
			case "apply":
				got, err = optionTypes(a.applyOptions())
			case "import":
				got, err = optionTypes(a.importOptions())
			}
			if err != nil {
				t.Fatalf("%s options: %v", tt.command, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("%s option types (-want +got):\n%s", tt.command, diff)
			}
		})
	}
}

func optionTypes[O any](opts []O, err error) ([]string, error) {
	types := make([]string, len(opts))
	for i, o := range opts {
		types[i] = fmt.Sprintf("%T", o)
	}
	return types, err
}

func TestParseMultiEnv(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    [][2]string
		wantErr bool
	}{
		{"", nil, false},
		{"A=1", [][2]string{{"A", "1"}}, false},
		{"A=1,B=2\n", [][2]string{{"A", "1"}, {"B", "2"}}, false},
		{"A=x,y,B=z", [][2]string{{"A", "x,y"}, {"B", "z"}}, false},
		{"A=1\nB=a,b\nC=k=v\n", [][2]string{{"A", "1"}, {"B", "a,b"}, {"C", "k=v"}}, false},
		{"A=1\n\nB=2\r\n", [][2]string{{"A", "1"}, {"B", "2"}}, false},
		{"not a pair", nil, true},
		{"A=1\nsecret-line", nil, true},
		{"1A=2", nil, true},
	}
	for _, tt := range tests {
		got, err := parseMultiEnv(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("parseMultiEnv(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			continue
		}
		if err != nil && strings.Contains(err.Error(), "secret-line") {
			t.Errorf("error quotes the output: %v", err)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("parseMultiEnv(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
}

func TestTailBuffer(t *testing.T) {
	t.Parallel()
	b := &tailBuffer{max: 10}
	b.Write([]byte("hello\n"))
	if got := b.String(); got != "hello\n" {
		t.Errorf("short output = %q", got)
	}
	for i := 0; i < 10; i++ {
		b.Write([]byte("line\n"))
	}
	got := b.String()
	if !strings.HasPrefix(got, "[") || !strings.Contains(got, "bytes of earlier output not kept]\nline\n") || !strings.HasSuffix(got, "line\n") {
		t.Errorf("truncated output = %q", got)
	}
	if len(b.buf) > 20 {
		t.Errorf("buffer holds %d bytes, want at most 2*max", len(b.buf))
	}
}

func TestStripRefreshing(t *testing.T) {
	t.Parallel()
	in := "a.b: Refreshing state... [id=1]\nkeep\nc.d: Refreshing state...\nalso keep"
	if got, want := stripRefreshing(in), "keep\nalso keep"; got != want {
		t.Errorf("stripRefreshing = %q, want %q", got, want)
	}
}

func TestSummarizePlan(t *testing.T) {
	t.Parallel()
	rc := func(addr string, actions ...tfjson.Action) *tfjson.ResourceChange {
		return &tfjson.ResourceChange{Address: addr, Change: &tfjson.Change{Actions: actions}}
	}
	imported := rc("x.imported", tfjson.ActionNoop)
	imported.Change.Importing = &tfjson.Importing{ID: "i-1"}
	plan := &tfjson.Plan{
		ResourceChanges: []*tfjson.ResourceChange{
			rc("x.new", tfjson.ActionCreate),
			rc("x.same", tfjson.ActionNoop),
			rc("x.changed", tfjson.ActionUpdate),
			rc("x.gone", tfjson.ActionDelete),
			rc("x.swap", tfjson.ActionDelete, tfjson.ActionCreate),
			rc("data.x.read", tfjson.ActionRead),
			imported,
		},
		ResourceDrift: []*tfjson.ResourceChange{
			rc("x.drifted", tfjson.ActionUpdate),
			rc("x.vanished", tfjson.ActionDelete),
		},
	}
	want := &PlanSummary{
		Add: 2, Change: 1, Destroy: 2, Import: 1, HasChanges: true,
		Resources: []ResourceChange{
			{"x.new", ActionCreate}, {"x.changed", ActionUpdate}, {"x.gone", ActionDelete},
			{"x.swap", ActionReplace}, {"data.x.read", ActionRead}, {"x.imported", ActionImport},
		},
		Drift: []ResourceChange{{"x.drifted", ActionUpdate}, {"x.vanished", ActionDelete}},
	}
	if diff := cmp.Diff(want, summarizePlan(plan, false), ignoreDigest); diff != "" {
		t.Errorf("summarizePlan (-want +got):\n%s", diff)
	}
}

func TestScrub(t *testing.T) {
	t.Parallel()
	tok := "s3cr3t/tok+en"
	in := "fatal: https://x-access-token:" + tok + "@h/ " + basicAuth(tok) + " s3cr3t%2Ftok%2Ben"
	got := scrub(in, tok)
	if strings.Contains(got, "s3cr3t") || strings.Contains(got, basicAuth(tok)) {
		t.Errorf("scrub left the token in %q", got)
	}
	if scrub("plain", "") != "plain" {
		t.Error("scrub with no token changed the text")
	}
}

func TestRunTerraformEnv(t *testing.T) {
	t.Parallel()
	r, g, dir := projectCheckout(t, map[string]string{"main.tf": webTF})
	// Variables terraform-exec manages itself are dropped, not fatal.
	r.env = append(r.env, "TF_VAR_size=from-server-env", "TF_LOG=TRACE", "TF_CLI_ARGS_plan=-bogus")
	job := Job{
		Dir: dir, ProjectDir: ".", Workspace: "staging", PlanFile: r.PlanPath(g.repo(), 1, ".", "staging"), Steps: planSteps(),
		// Job variables reach terraform: a data dir of its own, where the
		// selected workspace is recorded.
		Env: map[string]string{"TF_DATA_DIR": ".tfdata"},
	}
	res, err := r.Run(context.Background(), job)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, ".tfdata", "environment")); err != nil {
		t.Errorf("TF_DATA_DIR from Job.Env did not reach terraform: %v", err)
	}
	if !strings.Contains(res.Output, `"small"`) {
		t.Errorf("plan used TF_VAR_size from the environment, which tfexec refuses:\n%s", res.Output)
	}
	// Run steps get the full environment, TF_VAR_* included.
	runJob := job
	runJob.Steps = []config.Step{{Kind: config.StepRun, Run: "echo $TF_VAR_size $TF_IN_AUTOMATION"}}
	res, err = r.Run(context.Background(), runJob)
	if err != nil || res.Output != "from-server-env 1\n" {
		t.Errorf("run step env: output %q, err %v", res.Output, err)
	}

	// With the shim (this test binary, see TestMain), TF_VAR_* reach terraform:
	// from the server's environment, and from an env step, which wins.
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	r.cfg.Shim = exe
	res, err = r.Run(context.Background(), job)
	if err != nil {
		t.Fatalf("Run with shim: %v", err)
	}
	if !strings.Contains(res.Output, `"from-server-env"`) {
		t.Errorf("plan through the shim did not use TF_VAR_size from the server environment:\n%s", res.Output)
	}
	job.Steps = append([]config.Step{{Kind: config.StepEnv, EnvName: "TF_VAR_size", EnvValue: "from-env-step"}}, planSteps()...)
	res, err = r.Run(context.Background(), job)
	if err != nil {
		t.Fatalf("Run with env step: %v", err)
	}
	if !strings.Contains(res.Output, `"from-env-step"`) {
		t.Errorf("plan did not use TF_VAR_size from the env step:\n%s", res.Output)
	}
	// terraform-exec's own variables stay its own, shim or not.
	if strings.Contains(res.Output, "-bogus") {
		t.Errorf("TF_CLI_ARGS_plan reached terraform:\n%s", res.Output)
	}
}

// Plan, apply and import wait for the state lock unless told otherwise.
func TestWithLockTimeout(t *testing.T) {
	t.Parallel()
	lt := func(d string) string { return "lock-timeout=" + d }
	for _, tt := range []struct {
		args []string
		want []string
	}{
		{nil, []string{"lock-timeout=" + DefaultLockTimeout}},
		{[]string{"-var", "a=b"}, []string{"lock-timeout=" + DefaultLockTimeout}},
		{[]string{"-lock-timeout=5m"}, nil},
		{[]string{"-lock=false"}, nil},
	} {
		if got := withLockTimeout(tt.args, []string(nil), lt); !slices.Equal(got, tt.want) {
			t.Errorf("withLockTimeout(%q) = %q, want %q", tt.args, got, tt.want)
		}
	}
}
