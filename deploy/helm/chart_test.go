package helm

import (
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// fullname is the chart's full name for the test release.
const fullname = release + "-atoll"

// TestChart lints and renders the chart with each set of values in
// testdata/, decodes every manifest strictly, checks the wiring every
// install needs, what each set is for, and that the real server's flag
// parser accepts the environment the pod gets.
func TestChart(t *testing.T) {
	t.Parallel()
	cases := []struct {
		file string
		// existing is the Secret an existingSecret install has (the keys the
		// user put in it).
		existing map[string]string
		check    func(t *testing.T, m *manifests, values map[string]any)
	}{
		{file: "default.yaml", check: func(t *testing.T, m *manifests, values map[string]any) {
			sts, c := m.statefulSet(t)
			wantKeys(t, m.secret(fullname), "gh-token", "gh-webhook-secret")
			if len(m.ingresses) != 0 || len(m.configMaps) != 0 {
				t.Errorf("rendered %d Ingresses and %d ConfigMaps by default, want none", len(m.ingresses), len(m.configMaps))
			}
			if v, ok := literalEnv(c, "ATOLL_LOCKING_DB_TYPE"); ok {
				t.Errorf("ATOLL_LOCKING_DB_TYPE=%q by default; the server's default (boltdb) should stay", v)
			}
			if got := sts.Spec.Template.Spec.ServiceAccountName; got != fullname {
				t.Errorf("serviceAccountName %q, want %q", got, fullname)
			}
			if len(m.serviceAccounts) != 1 || m.serviceAccounts[0].Name != fullname {
				t.Errorf("ServiceAccounts %v, want one named %s", m.docs, fullname)
			}
		}},
		{file: "redis.yaml", check: func(t *testing.T, m *manifests, values map[string]any) {
			sts, c := m.statefulSet(t)
			if *sts.Spec.Replicas != 3 {
				t.Errorf("replicas %d, want 3", *sts.Spec.Replicas)
			}
			if sts.Spec.PodManagementPolicy != appsv1.ParallelPodManagement {
				t.Errorf("podManagementPolicy %q, want Parallel", sts.Spec.PodManagementPolicy)
			}
			for name, want := range map[string]string{"ATOLL_LOCKING_DB_TYPE": "redis", "ATOLL_REDIS_HOST": "redis-master.redis.svc",
				"ATOLL_REDIS_PORT": "6380", "ATOLL_REDIS_TLS_ENABLED": "true", "ATOLL_MAX_PARALLEL_JOBS": "2"} {
				if got, _ := literalEnv(c, name); got != want {
					t.Errorf("%s=%q, want %q", name, got, want)
				}
			}
			wantSecretEnv(t, c, "ATOLL_REDIS_PASSWORD", fullname, "redis-password")
			claim := dataClaim(t, sts)
			if claim.Spec.StorageClassName == nil || *claim.Spec.StorageClassName != "fast-ssd" {
				t.Errorf("the data claim's storage class is %v, want fast-ssd", claim.Spec.StorageClassName)
			}
		}},
		{file: "app.yaml", check: func(t *testing.T, m *manifests, values map[string]any) {
			_, c := m.statefulSet(t)
			// Numbers reach the server as integers, never as 1.073741824e+09.
			for name, want := range map[string]string{"ATOLL_GH_APP_ID": "123456", "ATOLL_GH_APP_INSTALLATION_ID": "98765432",
				"ATOLL_READYZ_MIN_FREE_DISK": "1073741824", "ATOLL_WEB_BASIC_AUTH": "true"} {
				if got, _ := literalEnv(c, name); got != want {
					t.Errorf("%s=%q, want %q", name, got, want)
				}
			}
			wantSecretEnv(t, c, "ATOLL_GH_APP_KEY", fullname, "gh-app-key")
			wantSecretEnv(t, c, "ATOLL_WEB_PASSWORD", fullname, "web-password")
			wantSecretEnv(t, c, "ATOLL_API_SECRET", fullname, "api-secret")
			if env(c, "ATOLL_GH_TOKEN") != nil {
				t.Error("ATOLL_GH_TOKEN is set for a GitHub App install without a token")
			}
			s := m.secret(fullname)
			wantKeys(t, s, "api-secret", "gh-app-key", "gh-webhook-secret", "web-password")
			if got, want := string(s.Data["gh-app-key"]), section(values, "secrets")["ghAppKey"]; got != want {
				t.Errorf("the Secret's gh-app-key is %q, want the PEM of the values %q", got, want)
			}
		}},
		{file: "ingress.yaml", check: func(t *testing.T, m *manifests, values map[string]any) {
			sts, c := m.statefulSet(t)
			if len(m.ingresses) != 1 {
				t.Fatalf("rendered %d Ingresses, want 1", len(m.ingresses))
			}
			ing := m.ingresses[0]
			if ing.Spec.IngressClassName == nil || *ing.Spec.IngressClassName != "nginx" {
				t.Errorf("ingressClassName %v, want nginx", ing.Spec.IngressClassName)
			}
			if len(ing.Spec.TLS) != 1 || ing.Spec.TLS[0].SecretName != "atoll-tls" || !slices.Equal(ing.Spec.TLS[0].Hosts, []string{"atoll.example.com"}) {
				t.Errorf("ingress TLS %+v, want atoll-tls for atoll.example.com", ing.Spec.TLS)
			}
			if len(ing.Spec.Rules) != 1 || ing.Spec.Rules[0].Host != "atoll.example.com" {
				t.Errorf("ingress rules %+v, want one for atoll.example.com", ing.Spec.Rules)
			}
			// With TLS at the ingress, links in comments use https and the host.
			if got, _ := literalEnv(c, "ATOLL_ATOLL_URL"); got != "https://atoll.example.com" {
				t.Errorf("ATOLL_ATOLL_URL=%q, want https://atoll.example.com from the ingress", got)
			}
			// repos.yaml from the values: a ConfigMap, mounted, and named by ATOLL_REPO_CONFIG.
			cm := m.configMap(fullname + "-repos")
			if cm == nil {
				t.Fatalf("no ConfigMap %s-repos for reposYaml", fullname)
			}
			if got, want := cm.Data["repos.yaml"], values["reposYaml"]; got != want {
				t.Errorf("repos.yaml in the ConfigMap is %q, want the values' %q", got, want)
			}
			path, _ := literalEnv(c, "ATOLL_REPO_CONFIG")
			vol := volumeAt(t, sts, c, filepath.Dir(path))
			if vol.ConfigMap == nil || vol.ConfigMap.Name != cm.Name || filepath.Base(path) != "repos.yaml" {
				t.Errorf("ATOLL_REPO_CONFIG=%q is not repos.yaml of a mount of the ConfigMap %s (volume %+v)", path, cm.Name, vol)
			}
			if sts.Spec.Template.Annotations["checksum/repos"] == "" {
				t.Error("no checksum/repos annotation: pods would not restart when repos.yaml changes")
			}
			wantSecretEnv(t, c, "ATOLL_NOTIFY_URL", fullname, "notify-url")
			if len(c.EnvFrom) != 1 || c.EnvFrom[0].SecretRef == nil || c.EnvFrom[0].SecretRef.Name != "aws-credentials" {
				t.Errorf("envFrom %+v, want the aws-credentials Secret of extraEnvFrom", c.EnvFrom)
			}
			if got, _ := literalEnv(c, "TF_CLI_CONFIG_FILE"); got != "/etc/terraform/terraformrc" {
				t.Errorf("TF_CLI_CONFIG_FILE=%q, want extraEnv's /etc/terraform/terraformrc", got)
			}
			if vol := volumeAt(t, sts, c, "/etc/terraform"); vol.ConfigMap == nil || vol.ConfigMap.Name != "terraformrc" {
				t.Errorf("/etc/terraform is %+v, want the terraformrc ConfigMap of extraVolumes", vol)
			}
			if got := m.serviceAccounts[0].Annotations["eks.amazonaws.com/role-arn"]; got == "" {
				t.Error("the ServiceAccount lost serviceAccount.annotations")
			}
		}},
		{file: "existing-secret.yaml", existing: map[string]string{"gh-token": "ghp_existing", "gh-webhook-secret": "existing-webhook-secret"},
			check: func(t *testing.T, m *manifests, values map[string]any) {
				sts, c := m.statefulSet(t)
				if len(m.secrets) != 0 {
					t.Errorf("rendered %d Secrets with existingSecret, want none", len(m.secrets))
				}
				// Every secret flag may come from the user's Secret.
				for _, k := range keys(section(readValues(t, filepath.Join(chartDir, "values.yaml")), "secrets")) {
					wantSecretEnv(t, c, envName(kebab(k)), "atoll-secrets", kebab(k))
				}
				if _, ok := sts.Spec.Template.Annotations["checksum/secret"]; ok {
					t.Error("checksum/secret annotation without a chart Secret")
				}
			}},
		{file: "https.yaml", check: func(t *testing.T, m *manifests, values map[string]any) {
			_, c := m.statefulSet(t)
			for _, p := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe, c.StartupProbe} {
				if p.HTTPGet.Scheme != corev1.URISchemeHTTPS {
					t.Errorf("probe of %s uses %s, want HTTPS: the server serves TLS itself", p.HTTPGet.Path, p.HTTPGet.Scheme)
				}
			}
			if c.Ports[0].ContainerPort != 8443 {
				t.Errorf("container port %d, want server.port 8443", c.Ports[0].ContainerPort)
			}
			svc := m.service(fullname)
			if svc.Spec.Type != corev1.ServiceTypeLoadBalancer || svc.Spec.Ports[0].Port != 443 {
				t.Errorf("service %s port %d, want LoadBalancer 443", svc.Spec.Type, svc.Spec.Ports[0].Port)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(strings.TrimSuffix(tc.file, ".yaml"), func(t *testing.T) {
			t.Parallel()
			path := filepath.Join("testdata", tc.file)
			values := readValues(t, path)
			m := lintAndRender(t, "-f", path)
			checkWiring(t, m, values)
			tc.check(t, m, values)
			checkServerAccepts(t, m, tc.existing)
		})
	}
}

// TestChartRefuses renders values that cannot work and wants helm to stop
// with a message saying what to set.
func TestChartRefuses(t *testing.T) {
	t.Parallel()
	base := []string{"-f", filepath.Join("testdata", "default.yaml")}
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"replicas without redis", append(base, "--set", "replicaCount=3"),
			"replicaCount 3 needs Redis: set server.lockingDbType=redis and server.redisHost"},
		{"redis without a host", append(base, "--set", "server.lockingDbType=redis"), "server.lockingDbType=redis needs server.redisHost"},
		{"the chart's defaults alone", nil, "server.repoAllowlist is required"},
		{"no webhook secret", append(base, "--set", "secrets.ghWebhookSecret="), "secrets.ghWebhookSecret is required"},
		{"no GitHub credential", append(base, "--set", "secrets.ghToken="), "a GitHub credential is required"},
		{"an App without its key", append(base, "--set", "server.ghAppId=12,secrets.ghToken="), "server.ghAppId needs the App's private key"},
		{"basic auth without a password", append(base, "--set", "server.webBasicAuth=true"), "server.webBasicAuth needs secrets.webPassword"},
		{"a secret and existingSecret", append(base, "--set", "existingSecret=mine"), "secrets.ghToken is set, and so is existingSecret"},
		{"reposYaml and repoConfig", append(base, "--set", "reposYaml=repos: [],server.repoConfig=/x.yaml"), "reposYaml and server.repoConfig"},
		{"an ingress without a host", append(base, "--set", "ingress.enabled=true"), "ingress.enabled needs ingress.host"},
		// The schema: a misspelt flag, and a secret flag given where it
		// would become a plain environment variable.
		{"a misspelt flag", append(base, "--set", "server.ghUsr=bot"), "additional properties 'ghUsr' not allowed"},
		{"a secret among the flags", append(base, "--set", "server.ghToken=ghp_x"), "additional properties 'ghToken' not allowed"},
		{"a word for a duration", append(base, "--set", "server.stepTimeout=an hour"), "stepTimeout"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out, err := helm(t, append([]string{"template", release, chartDir}, tc.args...)...)
			if err == nil {
				t.Fatalf("helm template rendered, want an error saying %q:\n%s", tc.want, out)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("helm template failed with\n%v\nwant it to say %q", err, tc.want)
			}
		})
	}
}

// checkWiring checks what every install needs: the pod's port is the one
// the server listens on, the Services and probes reach it, every Secret
// reference names a key that exists, every mount has a volume, the data
// volume is the data dir, secrets are never in clear outside a Secret, and
// the pod runs as a non-root user on a read-only root filesystem.
func checkWiring(t *testing.T, m *manifests, values map[string]any) {
	t.Helper()
	sts, c := m.statefulSet(t)
	if sts.Name != fullname {
		t.Errorf("StatefulSet %q, want %q", sts.Name, fullname)
	}
	if !subset(sts.Spec.Selector.MatchLabels, sts.Spec.Template.Labels) {
		t.Errorf("the selector %v does not match the pod's labels %v", sts.Spec.Selector.MatchLabels, sts.Spec.Template.Labels)
	}

	// One replica unless the values ask for more, and more only with Redis.
	replicas := int32(1)
	if v, ok := values["replicaCount"].(float64); ok {
		replicas = int32(v)
	}
	if sts.Spec.Replicas == nil || *sts.Spec.Replicas != replicas {
		t.Errorf("replicas %v, want %d", sts.Spec.Replicas, replicas)
	}
	if db, _ := literalEnv(c, "ATOLL_LOCKING_DB_TYPE"); replicas > 1 && db != "redis" {
		t.Errorf("%d replicas with ATOLL_LOCKING_DB_TYPE=%q: replicas need redis", replicas, db)
	}

	// Only "server" on the command line: every setting is in the environment.
	if len(c.Command) != 0 || !slices.Equal(c.Args, []string{"server"}) {
		t.Errorf("command %q args %q, want the image's entrypoint with args [server]", c.Command, c.Args)
	}

	// The container port is the server's --port.
	var http *corev1.ContainerPort
	for i := range c.Ports {
		if c.Ports[i].Name == "http" {
			http = &c.Ports[i]
		}
	}
	if http == nil {
		t.Fatalf("no container port named http in %+v", c.Ports)
	}
	if got, _ := literalEnv(c, "ATOLL_PORT"); got != strconv.Itoa(int(http.ContainerPort)) {
		t.Errorf("ATOLL_PORT=%q, but the container port is %d", got, http.ContainerPort)
	}

	// The Services reach that port, on these pods.
	svc := m.service(fullname)
	headless := m.service(sts.Spec.ServiceName)
	if svc == nil || headless == nil {
		t.Fatalf("want the Services %s and %s (the StatefulSet's serviceName); rendered %v", fullname, sts.Spec.ServiceName, keys(m.docs))
	}
	if headless.Spec.ClusterIP != corev1.ClusterIPNone {
		t.Errorf("%s has clusterIP %q; a StatefulSet's governing Service is headless", headless.Name, headless.Spec.ClusterIP)
	}
	for _, s := range []*corev1.Service{svc, headless} {
		if !subset(s.Spec.Selector, sts.Spec.Template.Labels) || len(s.Spec.Selector) == 0 {
			t.Errorf("Service %s selects %v, not the pods' labels %v", s.Name, s.Spec.Selector, sts.Spec.Template.Labels)
		}
		if len(s.Spec.Ports) != 1 {
			t.Fatalf("Service %s has %d ports, want 1", s.Name, len(s.Spec.Ports))
		}
		if got := resolvePort(c, s.Spec.Ports[0].TargetPort); got != http.ContainerPort {
			t.Errorf("Service %s targets %s (container port %d), want %d", s.Name, s.Spec.Ports[0].TargetPort.String(), got, http.ContainerPort)
		}
	}

	// Liveness is /healthz, readiness /readyz, on that port, over TLS when
	// the server serves it.
	scheme := corev1.URISchemeHTTP
	if v, _ := literalEnv(c, "ATOLL_SSL_CERT_FILE"); v != "" {
		scheme = corev1.URISchemeHTTPS
	}
	for _, p := range []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{{"liveness", c.LivenessProbe, "/healthz"}, {"readiness", c.ReadinessProbe, "/readyz"}, {"startup", c.StartupProbe, "/healthz"}} {
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("no HTTP %s probe", p.name)
			continue
		}
		g := p.probe.HTTPGet
		if g.Path != p.path || resolvePort(c, g.Port) != http.ContainerPort || g.Scheme != scheme {
			t.Errorf("%s probe %s %s port %s, want %s %s on container port %d", p.name, g.Scheme, g.Path, g.Port.String(), scheme, p.path, http.ContainerPort)
		}
	}

	checkSecrets(t, m, c, values)
	checkVolumes(t, m, sts, c, values)
	checkSecurity(t, m, sts, c)

	// The Ingress sends everything to the Service's port.
	for _, ing := range m.ingresses {
		for _, r := range ing.Spec.Rules {
			for _, p := range r.HTTP.Paths {
				b := p.Backend.Service
				if b == nil || b.Name != svc.Name || (b.Port.Name != svc.Spec.Ports[0].Name && b.Port.Number != svc.Spec.Ports[0].Port) {
					t.Errorf("Ingress %s path %s goes to %+v, want the Service %s port %s", ing.Name, p.Path, b, svc.Name, svc.Spec.Ports[0].Name)
				}
			}
		}
	}
}

// checkSecrets checks every secretKeyRef, and that no secret value of the
// values is in clear anywhere but in a Secret.
func checkSecrets(t *testing.T, m *manifests, c *corev1.Container, values map[string]any) {
	t.Helper()
	existing, _ := values["existingSecret"].(string)
	referenced := map[string]bool{}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			if isSecretFlagEnv(t, e.Name) {
				t.Errorf("%s is a secret flag given as a literal value; it must come from a Secret", e.Name)
			}
			continue
		}
		ref := e.ValueFrom.SecretKeyRef
		if ref == nil {
			t.Errorf("%s comes from %+v, want a secretKeyRef", e.Name, e.ValueFrom)
			continue
		}
		if e.Name != envName(ref.Key) {
			t.Errorf("%s comes from the key %s, which is the flag --%s (%s)", e.Name, ref.Key, ref.Key, envName(ref.Key))
		}
		optional := ref.Optional != nil && *ref.Optional
		if existing != "" {
			// The user's Secret may hold any of the secret flags.
			if ref.Name != existing || !optional {
				t.Errorf("%s comes from %s (optional %v), want the existingSecret %s, optional", e.Name, ref.Name, optional, existing)
			}
			continue
		}
		s := m.secret(ref.Name)
		if s == nil {
			t.Errorf("%s comes from the Secret %s, which the chart does not render", e.Name, ref.Name)
			continue
		}
		if _, ok := s.Data[ref.Key]; !ok || optional {
			t.Errorf("%s comes from key %s of %s (optional %v); the Secret has %v", e.Name, ref.Key, ref.Name, optional, keys(s.Data))
		}
		referenced[ref.Name+"/"+ref.Key] = true
	}
	for _, s := range m.secrets {
		for k := range s.Data {
			if !referenced[s.Name+"/"+k] {
				t.Errorf("the key %s of the Secret %s reaches no container", k, s.Name)
			}
		}
	}
	sts, _ := m.statefulSet(t)
	if existing == "" && sts.Spec.Template.Annotations["checksum/secret"] == "" {
		t.Error("no checksum/secret annotation: pods would not restart when a secret changes")
	}
	for name, v := range section(values, "secrets") {
		s, _ := v.(string)
		for _, line := range strings.Split(s, "\n") {
			if line = strings.TrimSpace(line); len(line) < 8 || strings.HasPrefix(line, "-----") {
				continue
			}
			for key, doc := range m.docs {
				if !strings.HasPrefix(key, "Secret/") && strings.Contains(doc, line) {
					t.Errorf("secrets.%s is in clear in %s", name, key)
				}
			}
		}
	}
}

// checkVolumes checks that every mount has a volume, the data volume is a
// claim per replica mounted at the data dir the server is given, and /tmp
// is writable.
func checkVolumes(t *testing.T, m *manifests, sts *appsv1.StatefulSet, c *corev1.Container, values map[string]any) {
	t.Helper()
	vols := map[string]corev1.Volume{}
	for _, v := range sts.Spec.Template.Spec.Volumes {
		vols[v.Name] = v
		// Volumes of objects the chart owns must be rendered.
		if v.ConfigMap != nil && strings.HasPrefix(v.ConfigMap.Name, fullname) && m.configMap(v.ConfigMap.Name) == nil {
			t.Errorf("volume %s mounts the ConfigMap %s, which the chart does not render", v.Name, v.ConfigMap.Name)
		}
		if v.Secret != nil && strings.HasPrefix(v.Secret.SecretName, fullname) && m.secret(v.Secret.SecretName) == nil {
			t.Errorf("volume %s mounts the Secret %s, which the chart does not render", v.Name, v.Secret.SecretName)
		}
	}
	claims := map[string]corev1.PersistentVolumeClaim{}
	for _, pvc := range sts.Spec.VolumeClaimTemplates {
		claims[pvc.Name] = pvc
		if _, clash := vols[pvc.Name]; clash {
			t.Errorf("%s is both a volume and a volume claim template", pvc.Name)
		}
	}
	for _, vm := range c.VolumeMounts {
		_, isVol := vols[vm.Name]
		_, isClaim := claims[vm.Name]
		if !isVol && !isClaim {
			t.Errorf("the mount %s at %s has no volume", vm.Name, vm.MountPath)
		}
	}
	dataDir, _ := literalEnv(c, "ATOLL_DATA_DIR")
	if want, _ := section(values, "server")["dataDir"].(string); want != "" && dataDir != want {
		t.Errorf("ATOLL_DATA_DIR=%q, want server.dataDir %q", dataDir, want)
	}
	claim := dataClaim(t, sts)
	if mount := mountAt(c, dataDir); mount == nil || mount.Name != claim.Name || mount.ReadOnly {
		t.Errorf("the data dir %q is mounted from %+v, want the volume claim template %s, writable", dataDir, mount, claim.Name)
	}
	size := "10Gi"
	if s, ok := section(values, "persistence")["size"].(string); ok {
		size = s
	}
	if got := claim.Spec.Resources.Requests[corev1.ResourceStorage]; got.String() != size {
		t.Errorf("the data claim requests %s, want %s", got.String(), size)
	}
	if tmp := volumeAt(t, sts, c, "/tmp"); tmp.EmptyDir == nil {
		t.Errorf("/tmp is %+v, want an emptyDir: the root filesystem is read-only", tmp)
	}
}

// checkSecurity checks the pod runs as a non-root user with no privileges
// and a read-only root filesystem, and no service account token.
func checkSecurity(t *testing.T, m *manifests, sts *appsv1.StatefulSet, c *corev1.Container) {
	t.Helper()
	pod := sts.Spec.Template.Spec
	psc, csc := pod.SecurityContext, c.SecurityContext
	if psc == nil || csc == nil {
		t.Fatalf("pod securityContext %+v, container securityContext %+v: want both", psc, csc)
	}
	isTrue := func(b *bool) bool { return b != nil && *b }
	isFalse := func(b *bool) bool { return b != nil && !*b }
	if !isTrue(psc.RunAsNonRoot) || !isTrue(csc.RunAsNonRoot) {
		t.Error("runAsNonRoot is not true for the pod and the container")
	}
	if psc.RunAsUser == nil || *psc.RunAsUser == 0 || csc.RunAsUser == nil || *csc.RunAsUser != *psc.RunAsUser {
		t.Errorf("runAsUser pod %v container %v, want the same non-root uid", psc.RunAsUser, csc.RunAsUser)
	}
	if psc.FSGroup == nil || psc.RunAsGroup == nil || *psc.FSGroup != *psc.RunAsGroup {
		t.Errorf("fsGroup %v runAsGroup %v: the data volume must belong to the server's group", psc.FSGroup, psc.RunAsGroup)
	}
	if !isTrue(csc.ReadOnlyRootFilesystem) {
		t.Error("readOnlyRootFilesystem is not true")
	}
	if !isFalse(csc.AllowPrivilegeEscalation) {
		t.Error("allowPrivilegeEscalation is not false")
	}
	if csc.Capabilities == nil || !slices.Equal(csc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(csc.Capabilities.Add) != 0 {
		t.Errorf("capabilities %+v, want ALL dropped and none added", csc.Capabilities)
	}
	for _, sp := range []*corev1.SeccompProfile{psc.SeccompProfile, csc.SeccompProfile} {
		if sp == nil || sp.Type != corev1.SeccompProfileTypeRuntimeDefault {
			t.Errorf("seccompProfile %+v, want RuntimeDefault", sp)
		}
	}
	if csc.Privileged != nil && *csc.Privileged {
		t.Error("the container is privileged")
	}
	if !isFalse(pod.AutomountServiceAccountToken) {
		t.Error("the pod mounts a service account token; Atoll does not call the Kubernetes API")
	}
	for _, sa := range m.serviceAccounts {
		if sa.Name == pod.ServiceAccountName {
			return
		}
	}
	if len(m.serviceAccounts) > 0 {
		t.Errorf("the pod runs as %s, but the chart renders the ServiceAccounts %v", pod.ServiceAccountName, m.serviceAccounts)
	}
}

// dataClaim returns the StatefulSet's data volume claim template.
func dataClaim(t *testing.T, sts *appsv1.StatefulSet) *corev1.PersistentVolumeClaim {
	t.Helper()
	if len(sts.Spec.VolumeClaimTemplates) != 1 {
		t.Fatalf("%d volume claim templates, want 1 (the data dir)", len(sts.Spec.VolumeClaimTemplates))
	}
	return &sts.Spec.VolumeClaimTemplates[0]
}

// mountAt returns the container's mount at path, or nil.
func mountAt(c *corev1.Container, path string) *corev1.VolumeMount {
	for i := range c.VolumeMounts {
		if c.VolumeMounts[i].MountPath == path {
			return &c.VolumeMounts[i]
		}
	}
	return nil
}

// volumeAt returns the pod volume mounted at path.
func volumeAt(t *testing.T, sts *appsv1.StatefulSet, c *corev1.Container, path string) corev1.Volume {
	t.Helper()
	vm := mountAt(c, path)
	if vm == nil {
		t.Fatalf("nothing is mounted at %s", path)
	}
	for _, v := range sts.Spec.Template.Spec.Volumes {
		if v.Name == vm.Name {
			return v
		}
	}
	t.Fatalf("the mount at %s names the volume %s, which the pod lacks", path, vm.Name)
	return corev1.Volume{}
}

// resolvePort returns the container port p names (by name or number), or 0.
func resolvePort(c *corev1.Container, p intstr.IntOrString) int32 {
	for _, cp := range c.Ports {
		if (p.Type == intstr.String && cp.Name == p.StrVal) || (p.Type == intstr.Int && cp.ContainerPort == p.IntVal) {
			return cp.ContainerPort
		}
	}
	return 0
}

// wantSecretEnv checks that the variable name comes from key of the Secret
// secret.
func wantSecretEnv(t *testing.T, c *corev1.Container, name, secret, key string) {
	t.Helper()
	e := env(c, name)
	if e == nil || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
		t.Errorf("%s is %+v, want it from key %s of the Secret %s", name, e, key, secret)
		return
	}
	if ref := e.ValueFrom.SecretKeyRef; ref.Name != secret || ref.Key != key {
		t.Errorf("%s comes from %s/%s, want %s/%s", name, ref.Name, ref.Key, secret, key)
	}
}

// wantKeys checks the Secret holds exactly these keys.
func wantKeys(t *testing.T, s *corev1.Secret, want ...string) {
	t.Helper()
	if s == nil {
		t.Fatalf("no Secret %s", fullname)
	}
	if diff := cmp.Diff(want, keys(s.Data)); diff != "" {
		t.Errorf("keys of the Secret %s (-want +got):\n%s", s.Name, diff)
	}
}

// subset reports whether every label of sel is in labels.
func subset(sel, labels map[string]string) bool {
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// keys returns a map's keys, sorted.
func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
