package redact

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
)

const (
	secretToken = "s3cr3t-T0ken-value-0042"
	ghToken     = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8" // 36 characters after the prefix
	awsKeyIDEx  = "AKIAIOSFODNN7EXAMPLE"
)

// testKey returns a freshly generated EC private key in PEM form.
func testKey(t testing.TB) string {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}))
}

func TestStringSecrets(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		secrets []string
		in      string
		want    string
	}{
		{"plain", []string{secretToken}, "token is " + secretToken + ".", "token is [redacted]."},
		{"twice", []string{secretToken}, secretToken + " and " + secretToken, "[redacted] and [redacted]"},
		{"whole text", []string{secretToken}, secretToken, "[redacted]"},
		{"in environ", []string{secretToken}, "PATH=/bin\x00ATOLL_GH_TOKEN=" + secretToken + "\x00HOME=/root",
			"PATH=/bin\x00ATOLL_GH_TOKEN=[redacted]\x00HOME=/root"},
		{"short value ignored", []string{"abc1234"}, "abc1234 stays", "abc1234 stays"},
		{"empty ignored", []string{""}, "nothing to see", "nothing to see"},
		{"eight characters", []string{"hunter22"}, "pw=hunter22", "pw=[redacted]"},
		{"eight multibyte characters", []string{"ééééééé1"}, "pw=ééééééé1", "pw=[redacted]"},
		{"seven multibyte characters", []string{"éééééé1"}, "pw=éééééé1", "pw=éééééé1"},
		{"trimmed value", []string{secretToken + "\n"}, "got " + secretToken + " ok", "got [redacted] ok"},
		{"json escaped", []string{`pa"ss\word<42>&x`}, `{"password":"pa\"ss\\word\u003c42\u003e\u0026x"}`, `{"password":"[redacted]"}`},
		{"json escaped without html escaping", []string{`pa"ss\word<42>&x`}, `"pa\"ss\\word<42>&x"`, `"[redacted]"`},
		{"url escaped", []string{"p@ss/word:x y"}, "https://example.com/?pw=p%40ss%2Fword%3Ax+y", "https://example.com/?pw=[redacted]"},
		{"base64", []string{secretToken}, "value: " + base64.StdEncoding.EncodeToString([]byte(secretToken)), "value: [redacted]"},
		{"basic auth header", []string{secretToken},
			"Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte("x-access-token:"+secretToken)),
			// "x-access-token:" is five whole base64 groups.
			"Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte("x-access-token:"))[:20] + "[redacted]"},
		{"nested secrets", []string{"secretvalue1", "supersecretvalue1"}, "xsupersecretvalue1x secretvalue1",
			"x[redacted]x [redacted]"},
		{"overlapping secrets", []string{"alpha-bravo-charlie", "charlie-delta-echo"}, "<alpha-bravo-charlie-delta-echo>",
			"<[redacted]>"},
		{"overlapping secrets other order", []string{"charlie-delta-echo", "alpha-bravo-charlie"}, "<alpha-bravo-charlie-delta-echo>",
			"<[redacted]>"},
		{"adjacent secrets", []string{"first-secret", "second-secret"}, "first-secretsecond-secret!", "[redacted]!"},
		{"secret inside token", []string{"A1b2C3d4E5f6"}, "t=" + ghToken, "t=[redacted]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := New(tt.secrets...)
			if got := r.String(tt.in); got != tt.want {
				t.Errorf("String(%q)\n got %q\nwant %q", tt.in, got, tt.want)
			}
			if got := string(r.Bytes([]byte(tt.in))); got != tt.want {
				t.Errorf("Bytes(%q)\n got %q\nwant %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestStringTokenShapes(t *testing.T) {
	t.Parallel()
	pat := "github_pat_11ABCDEFG0123456789abc_" + strings.Repeat("xY9", 20)
	block := "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAx\nabc/def+ghi=\n-----END RSA PRIVATE KEY-----"
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"ghp", "token=" + ghToken + "\n", "token=[redacted]\n"},
		{"gho", "gho_" + strings.Repeat("a", 36), "[redacted]"},
		{"ghu", `"ghu_0123456789abcdefghijABCDEFGHIJklmnop"`, `"[redacted]"`},
		{"gh prefix in a name", "module.ghr_runner_autoscaling_group.aws_lambda_function.scale_up_and_down_0123456789", "module.ghr_runner_autoscaling_group.aws_lambda_function.scale_up_and_down_0123456789"},
		{"gh prefix inside a word", "highs_and_lows_of_the_cluster", "highs_and_lows_of_the_cluster"},
		{"gh prefix then underscore", "ghp_" + strings.Repeat("a", 36) + "_suffix", "ghp_" + strings.Repeat("a", 36) + "_suffix"},
		{"ghs", "x-access-token:ghs_16C7e42F292c6912E7710c838347Ae178B4a@github.com", "x-access-token:[redacted]@github.com"},
		{"ghr", "ghr_1B4a2e77838347a7E420ce178F2E7c6912E169246c34E1ccbF66C46812d16D5B1A9Dc86A1498", "[redacted]"},
		{"escaped newline before token", `"line\nghp_` + strings.Repeat("Z", 36) + `"`, `"line\n[redacted]"`},
		{"fine-grained pat", "GITHUB_TOKEN=" + pat + " rest", "GITHUB_TOKEN=[redacted] rest"},
		{"ghp too short", "ghp_" + strings.Repeat("a", 29), "ghp_" + strings.Repeat("a", 29)},
		{"pat too short", "github_pat_" + strings.Repeat("a", 19), "github_pat_" + strings.Repeat("a", 19)},
		{"other gh prefix", "ghx_" + strings.Repeat("a", 30), "ghx_" + strings.Repeat("a", 30)},
		{"aws key id", `access_key = "` + awsKeyIDEx + `"`, `access_key = "[redacted]"`},
		{"aws temporary key id", "ASIAY34FZKBOKMUTVV7A:session", "[redacted]:session"},
		{"aws key id in url", "X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20240101", "X-Amz-Credential=[redacted]%2F20240101"},
		{"akia alone", "the AKIA prefix", "the AKIA prefix"},
		{"akia fifteen", "AKIA" + strings.Repeat("A", 15) + "-", "AKIA" + strings.Repeat("A", 15) + "-"},
		{"akia lowercase", "akiaiosfodnn7example", "akiaiosfodnn7example"},
		{"akia with lowercase", "AKIAiosfodnn7example", "AKIAiosfodnn7example"},
		{"pem block", "key:\n" + block + "\nafter", "key:\n[redacted]\nafter"},
		{"pem block json escaped", `"key":"` + strings.ReplaceAll(block, "\n", `\n`) + `\n"`, `"key":"[redacted]\n"`},
		{"pem block openssh", "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk\n-----END OPENSSH PRIVATE KEY-----\n", "[redacted]\n"},
		{"pem block pkcs8", "-----BEGIN PRIVATE KEY-----\nMC4CAQ\n-----END PRIVATE KEY-----", "[redacted]"},
		{"pem block pgp", "-----BEGIN PGP PRIVATE KEY BLOCK-----\nlQ\n-----END PGP PRIVATE KEY BLOCK-----", "[redacted]"},
		{"unterminated pem block", "ok\n-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE\nmore", "ok\n[redacted]"},
		{"two pem blocks", block + "\nmiddle\n" + block, "[redacted]\nmiddle\n[redacted]"},
		{"pem block bad footer then good", "-----BEGIN RSA PRIVATE KEY-----\nx\n-----END CERTIFICATE-----\ny\n-----END RSA PRIVATE KEY-----\nz",
			"[redacted]\nz"},
		{"certificate", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"},
		{"public key", "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----", "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----"},
		{"dashes", "-------- BEGIN -----BEGIN", "-------- BEGIN -----BEGIN"},
		{"several shapes", ghToken + " " + awsKeyIDEx + " " + ghToken, "[redacted] [redacted] [redacted]"},
	}
	r := New() // no secrets: shapes only
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := r.String(tt.in); got != tt.want {
				t.Errorf("String(%q)\n got %q\nwant %q", tt.in, got, tt.want)
			}
		})
	}
	var nilRedactor *Redactor
	if got := nilRedactor.String("t " + ghToken); got != "t [redacted]" {
		t.Errorf("nil Redactor: String = %q, want the token redacted", got)
	}
	var zero Redactor
	zero.Add(secretToken)
	if got := zero.String(secretToken + " " + awsKeyIDEx); got != "[redacted] [redacted]" {
		t.Errorf("zero Redactor after Add: String = %q", got)
	}
}

// A multi-line secret such as a PEM key reaches output whole, line by line in
// another layout, or JSON-escaped on one line.
func TestStringMultiLineSecret(t *testing.T) {
	t.Parallel()
	key := testKey(t)
	body := strings.Split(strings.TrimSpace(key), "\n")
	body = body[1 : len(body)-1] // without the BEGIN and END lines
	r := New(key)
	shapesOnly := New()

	// Heredoc as terraform shows it, indented, without the BEGIN/END lines
	// (so the PEM shape cannot help).
	var heredoc strings.Builder
	heredoc.WriteString("      + content = <<-EOT\n")
	for _, l := range body {
		heredoc.WriteString("            " + l + "\n")
	}
	heredoc.WriteString("        EOT\n")
	jsonKey, _ := json.Marshal(key)
	crlf := strings.ReplaceAll(key, "\n", "\r\n")

	tests := []struct {
		name string
		in   string
	}{
		{"whole key", "key: " + key},
		{"indented lines", heredoc.String()},
		{"json escaped", `{"content":` + string(jsonKey) + `}`},
		{"crlf", crlf},
		{"one line", "line 3 is " + body[2] + " indeed"},
		{"lines reversed", body[3] + "\n" + body[1] + "\n" + body[0]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := r.String(tt.in)
			for i, l := range body {
				if strings.Contains(got, l) {
					t.Errorf("line %d of the key survives:\n%s", i, got)
				}
			}
			if !strings.Contains(got, placeholder) {
				t.Errorf("nothing redacted:\n%s", got)
			}
		})
	}
	// The heredoc has no PEM header: only the registered key's lines find it.
	if got := shapesOnly.String(heredoc.String()); got != heredoc.String() {
		t.Errorf("a Redactor without the key changed the heredoc:\n%s", got)
	}
	// A line shorter than 16 characters (the last base64 line can be) is not
	// redacted on its own.
	short := New("first line of it is long\nshort\n")
	if got := short.String("short"); got != "short" {
		t.Errorf("short line redacted: %q", got)
	}
}

// A secret base64-encoded inside a longer text (an environment file, say)
// starts at any offset from a base64 group boundary.
func TestStringBase64AnyOffset(t *testing.T) {
	t.Parallel()
	for _, secret := range []string{secretToken, "hunter22", "a-secret-of-some-length!"} {
		r := New(secret)
		for pad := 0; pad < 6; pad++ {
			plain := strings.Repeat("P", pad) + "\x00ATOLL_API_SECRET=" + secret + "\x00HOME=/root\x00"
			enc := base64.StdEncoding.EncodeToString([]byte(plain))
			got := r.String(enc)
			// Whole groups of the secret are at least 4*((len-2)/3) characters.
			if covered := len(enc) - (len(got) - len(placeholder)); !strings.Contains(got, placeholder) || covered < 4*((len(secret)-2)/3) {
				t.Errorf("secret %q at pad %d: %q -> %q: covered %d characters, want at least %d", secret, pad, enc, got, covered, 4*((len(secret)-2)/3))
			}
		}
	}
}

// Ordinary terraform output must come through untouched.
func TestStringNoFalsePositives(t *testing.T) {
	t.Parallel()
	text := `Terraform used the selected providers to generate the following execution plan.
Resource actions are indicated with the following symbols:
  + create
  ~ update in-place

Terraform will perform the following actions:

  # aws_iam_access_key.ci will be created
  + resource "aws_iam_access_key" "ci" {
      + create_date          = (known after apply)
      + id                   = (known after apply)
      + secret               = (sensitive value)
      + user                 = "ci-bot"
    }

  # module.github_runner.aws_instance.this["a"] will be updated in-place
  ~ resource "aws_instance" "this" {
        id                   = "i-0123456789abcdef0"
      ~ ami                  = "ami-0c55b159cbfafe1f0" -> "ami-0abcdef1234567890"
        arn                  = "arn:aws:ec2:eu-west-1:123456789012:instance/i-0123456789abcdef0"
      ~ user_data_base64     = "IyEvYmluL2Jhc2gKZWNobyBoZWxsbwo="
        tags                 = { "Name" = "github_runner", "AKIA" = "prefix only" }
        # sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
        # commit 4b825dc642cb6eb9a060e54bf8d69288fbee4904
    }

  # terraform_data.ghp_cache will be created
  + resource "terraform_data" "ghp_cache" {
      + input = "ghs_short"
    }

Plan: 1 to add, 1 to change, 0 to destroy.
-----------------------------------------------------------------------------
`
	r := New(secretToken, "hunter22", testKey(t))
	if got := r.String(text); got != text {
		t.Errorf("plan text changed:\n%s", got)
	}
	b := []byte(text)
	if got := r.Bytes(b); &got[0] != &b[0] {
		t.Error("Bytes copied a text with nothing to redact")
	}
}

func TestBytesDoesNotModifyInput(t *testing.T) {
	t.Parallel()
	r := New(secretToken)
	in := []byte("a " + secretToken + " b")
	orig := string(in)
	got := r.Bytes(in)
	if string(got) != "a [redacted] b" || string(in) != orig {
		t.Errorf("Bytes = %q, input now %q", got, in)
	}
}

func TestHasSecret(t *testing.T) {
	t.Parallel()
	key := testKey(t)
	line := strings.Split(key, "\n")[2]
	r := New(secretToken, key)
	tests := []struct {
		in   string
		want bool
	}{
		{secretToken, true},
		{"prefix-" + secretToken + "-suffix", true},
		{base64.StdEncoding.EncodeToString([]byte("x-access-token:" + secretToken)), true},
		{url.QueryEscape(secretToken + "/"), true},
		{key, true},
		{line, true},
		{ghToken, false}, // a token shape, but not one of ours
		{awsKeyIDEx, false},
		{"/usr/local/bin:/usr/bin:/bin", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := r.HasSecret(tt.in); got != tt.want {
			t.Errorf("HasSecret(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
	if New().HasSecret(secretToken) {
		t.Error("a Redactor without secrets found one")
	}
}

// Add while others redact: every redaction sees either the old or the new
// set of secrets, and after Add returns the new one.
func TestAddConcurrent(t *testing.T) {
	t.Parallel()
	r := New(secretToken)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 50 {
				s := fmt.Sprintf("rotated-installation-token-%d-%d", i, j)
				r.Add(s)
				if got := r.String("t=" + s + " " + secretToken); got != "t=[redacted] [redacted]" {
					t.Errorf("after Add(%q): %q", s, got)
					return
				}
			}
		})
	}
	wg.Wait()
}

func FuzzRedact(f *testing.F) {
	f.Add("plain text with nothing", secretToken)
	f.Add("ghp_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "aaaaaaaa")
	f.Add("-----BEGIN RSA PRIVATE KEY-----\nabc", "line one is long enough\nline two is long enough")
	f.Add("AKIAIOSFODNN7EXAMPLE xx", "EXAMPLE xx")
	f.Add("\xff\xfe\x00", "\x00\x00\x00\x00\x00\x00\x00\x00")
	f.Fuzz(func(t *testing.T, text, secret string) {
		r := New(secret)
		k := len(text) / 2
		for _, in := range []string{text, text[:k] + secret + text[k:], secret + text + secret} {
			out := r.String(in)
			if got := string(r.Bytes([]byte(in))); got != out {
				t.Fatalf("Bytes and String differ for %q: %q vs %q", in, got, out)
			}
			for _, f := range forms(secret) {
				// Outside the placeholders the output is input text, so no
				// form of the secret may be found there.
				for _, frag := range strings.Split(out, placeholder) {
					if strings.Contains(frag, f) {
						t.Fatalf("String(%q) = %q keeps %q (a form of secret %q)", in, out, f, secret)
					}
				}
			}
		}
	})
}

// terraformOutput returns about size bytes of plan-like text with a secret,
// a token and an access key ID here and there.
func terraformOutput(size int, secrets []string) []byte {
	var b strings.Builder
	for i := 0; b.Len() < size; i++ {
		fmt.Fprintf(&b, `  # module.app.aws_instance.web[%d] will be created
  + resource "aws_instance" "web" {
      + ami                          = "ami-0c55b159cbfafe1f0"
      + arn                          = (known after apply)
      + id                           = "i-%017x"
      + instance_type                = "t3.micro"
      + tags                         = { "Name" = "web-%d", "Team" = "platform" }
      + user_data                    = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    }
`, i, i*7919, i)
		if i%500 == 0 {
			fmt.Fprintf(&b, "  # leaked: %s %s %s\n", secrets[i/500%len(secrets)], ghToken, awsKeyIDEx)
		}
	}
	return []byte(b.String())
}

func BenchmarkRedact8MiB(b *testing.B) {
	secrets := []string{secretToken, "webhook-secret-0123456789", "web-password!", "api-secret-abcdef012345", "redis-pass-xyz", testKey(b)}
	text := terraformOutput(8<<20, secrets)
	r := New(secrets...)
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		out := r.Bytes(text)
		if len(out) == len(text) {
			b.Fatal("nothing redacted")
		}
	}
}
