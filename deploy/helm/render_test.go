package helm

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/atollhq/atoll/internal/testenv"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// release is the release name every test renders the chart as; the chart's
// full name is then release-atoll.
const release = "prod"

// chartDir is the chart, relative to this package.
const chartDir = "atoll"

// helm runs the helm binary with args in this package's directory, with its
// own cache and config directories, and returns stdout, or an error holding
// stderr.
func helm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	home := t.TempDir()
	cmd := exec.Command(testenv.Helm(t), args...)
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"), "HELM_DATA_HOME="+filepath.Join(home, "data"))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("helm %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// lintAndRender runs helm lint --strict and helm template with the values
// args (-f FILE, --set k=v) and decodes what helm template writes.
func lintAndRender(t *testing.T, valuesArgs ...string) *manifests {
	t.Helper()
	if out, err := helm(t, append([]string{"lint", "--strict", chartDir}, valuesArgs...)...); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	out, err := helm(t, append([]string{"template", release, chartDir, "--namespace", "atoll"}, valuesArgs...)...)
	if err != nil {
		t.Fatal(err)
	}
	return decode(t, out)
}

// manifests are the objects one helm template rendered, decoded.
type manifests struct {
	// docs are the rendered documents as text, keyed by "Kind/name".
	docs            map[string]string
	statefulSets    []appsv1.StatefulSet
	services        []corev1.Service
	secrets         []corev1.Secret
	configMaps      []corev1.ConfigMap
	serviceAccounts []corev1.ServiceAccount
	ingresses       []networkingv1.Ingress
}

var docSeparator = regexp.MustCompile(`(?m)^---\s*$`)

// decode splits helm template's output into documents and decodes each one
// strictly (an unknown or duplicate field is an error) into the API type of
// its apiVersion and kind. A kind the chart is not expected to render fails
// the test.
func decode(t *testing.T, out string) *manifests {
	t.Helper()
	m := &manifests{docs: map[string]string{}}
	for _, doc := range docSeparator.Split(out, -1) {
		if strings.TrimSpace(stripComments(doc)) == "" {
			continue
		}
		var head struct {
			metav1.TypeMeta `json:",inline"`
			Metadata        struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
			t.Fatalf("a rendered document is not YAML: %v\n%s", err, doc)
		}
		key := head.Kind + "/" + head.Metadata.Name
		if _, dup := m.docs[key]; dup {
			t.Errorf("%s is rendered twice", key)
		}
		m.docs[key] = doc
		var err error
		switch gvk := head.APIVersion + " " + head.Kind; gvk {
		case "apps/v1 StatefulSet":
			var o appsv1.StatefulSet
			err = yaml.UnmarshalStrict([]byte(doc), &o)
			m.statefulSets = append(m.statefulSets, o)
		case "v1 Service":
			var o corev1.Service
			err = yaml.UnmarshalStrict([]byte(doc), &o)
			m.services = append(m.services, o)
		case "v1 Secret":
			var o corev1.Secret
			err = yaml.UnmarshalStrict([]byte(doc), &o)
			m.secrets = append(m.secrets, o)
		case "v1 ConfigMap":
			var o corev1.ConfigMap
			err = yaml.UnmarshalStrict([]byte(doc), &o)
			m.configMaps = append(m.configMaps, o)
		case "v1 ServiceAccount":
			var o corev1.ServiceAccount
			err = yaml.UnmarshalStrict([]byte(doc), &o)
			m.serviceAccounts = append(m.serviceAccounts, o)
		case "networking.k8s.io/v1 Ingress":
			var o networkingv1.Ingress
			err = yaml.UnmarshalStrict([]byte(doc), &o)
			m.ingresses = append(m.ingresses, o)
		default:
			t.Fatalf("the chart rendered %q (%s), which this test does not decode: add it to decode and check its wiring", gvk, head.Metadata.Name)
		}
		if err != nil {
			t.Fatalf("%s does not decode strictly into its API type: %v\n%s", key, err, doc)
		}
	}
	return m
}

// stripComments drops the comment lines of a document (helm's "# Source:").
func stripComments(doc string) string {
	var b strings.Builder
	for _, line := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

// statefulSet returns the only StatefulSet and its only container.
func (m *manifests) statefulSet(t *testing.T) (*appsv1.StatefulSet, *corev1.Container) {
	t.Helper()
	if len(m.statefulSets) != 1 {
		t.Fatalf("rendered %d StatefulSets, want 1", len(m.statefulSets))
	}
	sts := &m.statefulSets[0]
	if n := len(sts.Spec.Template.Spec.Containers); n != 1 {
		t.Fatalf("the pod has %d containers, want 1", n)
	}
	return sts, &sts.Spec.Template.Spec.Containers[0]
}

// secret returns the rendered Secret named name, or nil.
func (m *manifests) secret(name string) *corev1.Secret {
	for i := range m.secrets {
		if m.secrets[i].Name == name {
			return &m.secrets[i]
		}
	}
	return nil
}

// configMap returns the rendered ConfigMap named name, or nil.
func (m *manifests) configMap(name string) *corev1.ConfigMap {
	for i := range m.configMaps {
		if m.configMaps[i].Name == name {
			return &m.configMaps[i]
		}
	}
	return nil
}

// service returns the rendered Service named name, or nil.
func (m *manifests) service(name string) *corev1.Service {
	for i := range m.services {
		if m.services[i].Name == name {
			return &m.services[i]
		}
	}
	return nil
}

// env returns the container's environment variable name, or nil.
func env(c *corev1.Container, name string) *corev1.EnvVar {
	for i := range c.Env {
		if c.Env[i].Name == name {
			return &c.Env[i]
		}
	}
	return nil
}

// literalEnv returns the literal value of the container's variable name
// and whether it has one.
func literalEnv(c *corev1.Container, name string) (string, bool) {
	e := env(c, name)
	if e == nil || e.ValueFrom != nil {
		return "", false
	}
	return e.Value, true
}

// readValues reads a values file as a map.
func readValues(t *testing.T, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := yaml.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return v
}

// section returns values[key] as a map (nil when absent).
func section(values map[string]any, key string) map[string]any {
	m, _ := values[key].(map[string]any)
	return m
}
