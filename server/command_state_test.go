package server

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseStateCommands(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		body    string
		want    Command
		wantErr string // substring of a *CommandError; "" = success
	}{
		{name: "import", body: "atoll import -d infra sandbox_server.web srv-1",
			want: Command{Name: CmdImport, Dir: "infra", Addresses: []string{"sandbox_server.web"}, ImportID: "srv-1", Raw: "atoll import -d infra sandbox_server.web srv-1"}},
		{name: "import flags after", body: "atlantis import aws_vpc.main vpc-123 -w prod -p net",
			want: Command{Name: CmdImport, Workspace: "prod", Project: "net", Addresses: []string{"aws_vpc.main"}, ImportID: "vpc-123", Raw: "atlantis import aws_vpc.main vpc-123 -w prod -p net"}},
		{name: "import indexed module address", body: `atoll import 'module.vpc["a"].aws_subnet.this[0]' "subnet 1" -- -var env=prod -var-file=prod.tfvars`,
			want: Command{Name: CmdImport, Addresses: []string{`module.vpc["a"].aws_subnet.this[0]`}, ImportID: "subnet 1",
				ExtraArgs: []string{"-var=env=prod", "-var-file=prod.tfvars"}, Raw: `atoll import 'module.vpc["a"].aws_subnet.this[0]' "subnet 1" -- -var env=prod -var-file=prod.tfvars`}},
		{name: "import data address", body: "atoll import data.aws_ami.x ami-1", want: Command{Name: CmdImport, Addresses: []string{"data.aws_ami.x"}, ImportID: "ami-1", Raw: "atoll import data.aws_ami.x ami-1"}},
		{name: "import lock-timeout", body: "atoll import a.b c -- -lock-timeout=5m", want: Command{Name: CmdImport, Addresses: []string{"a.b"}, ImportID: "c", ExtraArgs: []string{"-lock-timeout=5m"}, Raw: "atoll import a.b c -- -lock-timeout=5m"}},
		{name: "import missing id", body: "atoll import sandbox_server.web", wantErr: "needs a resource address and a resource ID"},
		{name: "import too many", body: "atoll import a.b c d", wantErr: "got 3 argument(s)"},
		{name: "import address flag", body: "atoll import -- -state=x y", wantErr: "needs a resource address"},
		{name: "import address dash after flags", body: `atoll import -d infra -- a.b`, wantErr: "needs a resource address"},
		{name: "import address not an address", body: "atoll import foo srv-1", wantErr: `"foo" is not a terraform resource address`},
		{name: "import address with shell", body: "atoll import 'a.b;rm -rf /' x", wantErr: "is not a terraform resource address"},
		{name: "import address backtick key", body: "atoll import 'a.b[\"`x`\"]' x", wantErr: "is not a terraform resource address"},
		{name: "import id flag", body: "atoll import a.b '-state=/tmp/x'", wantErr: "flag provided but not defined: -state"},
		{name: "import id dash", body: "atoll import a.b -", wantErr: "starts with '-'"},
		{name: "import id control", body: "atoll import a.b 'x\ty'", wantErr: "control character"},
		{name: "import whole module refused", body: "atoll import module.vpc x", wantErr: "names a whole module"},
		{name: "import target refused", body: "atoll import a.b c -- -target=x", wantErr: "-target is not allowed here; allowed: -var, -var-file, -lock-timeout"},
		{name: "import lock=false refused", body: "atoll import a.b c -- -lock=false", wantErr: "-lock is not allowed here"},
		{name: "import state refused", body: "atoll import a.b c -- -state=/tmp/s", wantErr: "-state is not allowed here"},
		{name: "import var-file escape", body: "atoll import a.b c -- -var-file=../../x", wantErr: "leaves the repository"},
		{name: "import dotdot dir", body: "atoll import -d ../x a.b c", wantErr: "leaves the repository"},
		{name: "import p and d", body: "atoll import -d a -p b a.b c", wantErr: "not both"},
		{name: "state rm", body: "atoll state rm -d infra sandbox_server.web 'module.a.sandbox_server.b[\"k\"]'",
			want: Command{Name: CmdState, Dir: "infra", Addresses: []string{"sandbox_server.web", `module.a.sandbox_server.b["k"]`}, Raw: "atoll state rm -d infra sandbox_server.web 'module.a.sandbox_server.b[\"k\"]'"}},
		{name: "state flags first", body: "atlantis state -p web rm a.b", want: Command{Name: CmdState, Project: "web", Addresses: []string{"a.b"}, Raw: "atlantis state -p web rm a.b"}},
		{name: "state rm module", body: "atoll state rm module.vpc[0].module.sub", want: Command{Name: CmdState, Addresses: []string{"module.vpc[0].module.sub"}, Raw: "atoll state rm module.vpc[0].module.sub"}},
		{name: "state rm nothing", body: "atoll state rm", wantErr: "needs at least one resource address"},
		{name: "state other", body: "atoll state mv a.b a.c", wantErr: "the only state command is rm"},
		{name: "state bare", body: "atoll state", wantErr: "the only state command is rm"},
		{name: "state rm dash address", body: "atoll state rm a.b -lock=false", wantErr: "flag provided but not defined"},
		{name: "state rm var refused", body: "atoll state rm a.b -- -var x=1", wantErr: "-var is not allowed here; allowed: -lock-timeout"},
		{name: "state rm too many", body: "atoll state rm" + strings.Repeat(" a.b", 21), wantErr: "at most 20"},
		{name: "cancel", body: "atoll cancel", want: Command{Name: CmdCancel, Raw: "atoll cancel"}},
		{name: "cancel args", body: "atoll cancel now", wantErr: "takes no arguments"},
		{name: "cancel flags", body: "atoll cancel -d x", wantErr: "flag provided but not defined"},
		{name: "cancel extra", body: "atoll cancel -- -var a=b", wantErr: "does not take terraform flags"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseCommand(tt.body, testExecutables)
			if tt.wantErr != "" {
				var ce *CommandError
				if !errors.As(err, &ce) || !strings.Contains(ce.Msg, tt.wantErr) {
					t.Fatalf("ParseCommand(%q) = %+v, %v; want CommandError containing %q", tt.body, got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseCommand(%q): %v", tt.body, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseCommand(%q) mismatch (-want +got):\n%s", tt.body, diff)
			}
		})
	}
}

func TestValidAddress(t *testing.T) {
	t.Parallel()
	for _, a := range []string{"a.b", "aws_instance.web", "a_b-c.d_e-f[12]", `a.b["x y"]`, "module.m.a.b", `module.m["k"].module.n[3].data.a.b`} {
		if msg := ValidAddress(a, false); msg != "" {
			t.Errorf("ValidAddress(%q) = %q, want valid", a, msg)
		}
	}
	for _, a := range []string{"", "-a.b", "a", "a.b.c", "a.b[x]", `a.b["x\"]`, "a.b[-1]", "1a.b", "a.b\n", "module.m", "a .b", "a.b c", "data.x", "module.m.data.x", "module.m.module.n"} {
		if ValidAddress(a, false) == "" {
			t.Errorf("ValidAddress(%q) is valid, want refused", a)
		}
	}
	if msg := ValidAddress("module.m", true); msg != "" {
		t.Errorf("ValidAddress(module.m, module) = %q", msg)
	}
}

// FuzzParseStateCommand: whatever a comment says, an accepted import or
// state rm names addresses and an ID that terraform cannot read as flags.
func FuzzParseStateCommand(f *testing.F) {
	for _, s := range []string{"atoll import a.b c", "atoll state rm a.b 'module.x[\"k\"]'", "atoll import -d x a.b -- -var a=b", "atoll cancel"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		cmd, err := ParseCommand(body, testExecutables)
		if err != nil || (cmd.Name != CmdImport && cmd.Name != CmdState) {
			return
		}
		if len(cmd.Addresses) == 0 {
			t.Fatalf("%q: accepted with no address", body)
		}
		for _, a := range append(append([]string{}, cmd.Addresses...), cmd.ImportID) {
			if strings.HasPrefix(a, "-") || strings.ContainsAny(a, "\x00\r\n") {
				t.Fatalf("%q: accepted argument %q", body, a)
			}
		}
		if cmd.Name == CmdImport && cmd.ImportID == "" {
			t.Fatalf("%q: import with no ID", body)
		}
	})
}
