package export

// The Kubernetes objects export writes, as plain structs with the API's JSON names:
// k8s.io/api and apimachinery would link (and initialise) about 1 ms of package init
// into every start of the binary, `confine run` included. Only the fields export sets
// are here, with the API's omitempty choices, so sigs.k8s.io/yaml writes the same
// documents; k8s_test.go decodes them strictly into the k8s.io/api types.

type kTypeMeta struct {
	APIVersion string `json:"apiVersion,omitempty"`
	Kind       string `json:"kind,omitempty"`
}

type kObjectMeta struct {
	Name   string            `json:"name,omitempty"`
	Labels map[string]string `json:"labels,omitempty"`
}

type kLabelSelector struct {
	MatchLabels map[string]string `json:"matchLabels,omitempty"`
}

// kEmpty is a status or strategy the API always writes, as {}.
type kEmpty struct{}

type kDeployment struct {
	kTypeMeta
	ObjectMeta kObjectMeta     `json:"metadata"`
	Spec       kDeploymentSpec `json:"spec"`
	Status     kEmpty          `json:"status"`
}

type kDeploymentSpec struct {
	Replicas *int32           `json:"replicas,omitempty"`
	Selector *kLabelSelector  `json:"selector"`
	Template kPodTemplateSpec `json:"template"`
	Strategy kEmpty           `json:"strategy"`
}

type kPodTemplateSpec struct {
	ObjectMeta kObjectMeta `json:"metadata"`
	Spec       kPodSpec    `json:"spec"`
}

type kPodSpec struct {
	Volumes                      []kVolume            `json:"volumes,omitempty"`
	Containers                   []kContainer         `json:"containers"`
	AutomountServiceAccountToken *bool                `json:"automountServiceAccountToken,omitempty"`
	Hostname                     string               `json:"hostname,omitempty"`
	SecurityContext              *kPodSecurityContext `json:"securityContext,omitempty"`
	EnableServiceLinks           *bool                `json:"enableServiceLinks,omitempty"`
	HostUsers                    *bool                `json:"hostUsers,omitempty"`
}

type kPodSecurityContext struct {
	SupplementalGroups []int64   `json:"supplementalGroups,omitempty"`
	Sysctls            []kSysctl `json:"sysctls,omitempty"`
}

type kSysctl struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type kContainer struct {
	Name            string                `json:"name"`
	Image           string                `json:"image,omitempty"`
	Command         []string              `json:"command,omitempty"`
	WorkingDir      string                `json:"workingDir,omitempty"`
	Ports           []kContainerPort      `json:"ports,omitempty"`
	Env             []kEnvVar             `json:"env,omitempty"`
	Resources       kResourceRequirements `json:"resources"`
	VolumeMounts    []kVolumeMount        `json:"volumeMounts,omitempty"`
	ReadinessProbe  *kProbe               `json:"readinessProbe,omitempty"`
	SecurityContext *kSecurityContext     `json:"securityContext,omitempty"`
}

type kContainerPort struct {
	ContainerPort int32     `json:"containerPort"`
	Protocol      kProtocol `json:"protocol,omitempty"`
}

type kEnvVar struct {
	Name  string `json:"name"`
	Value string `json:"value,omitempty"`
}

type kProtocol string

// kResourceList maps a resource to its quantity in the API's canonical form.
type kResourceList map[string]string

const (
	kResourceCPU     = "cpu"
	kResourceMemory  = "memory"
	kResourceStorage = "storage"
)

type kResourceRequirements struct {
	Limits   kResourceList `json:"limits,omitempty"`
	Requests kResourceList `json:"requests,omitempty"`
}

type kVolumeMount struct {
	Name      string `json:"name"`
	MountPath string `json:"mountPath"`
}

type kProbe struct {
	kProbeHandler
	TimeoutSeconds   int32 `json:"timeoutSeconds,omitempty"`
	PeriodSeconds    int32 `json:"periodSeconds,omitempty"`
	FailureThreshold int32 `json:"failureThreshold,omitempty"`
}

type kProbeHandler struct {
	TCPSocket *kTCPSocketAction `json:"tcpSocket,omitempty"`
}

// kIntOrString is an IntOrString that export only ever sets to a number.
type kIntOrString int32

type kTCPSocketAction struct {
	Port kIntOrString `json:"port"`
}

type kSecurityContext struct {
	Capabilities             *kCapabilities   `json:"capabilities,omitempty"`
	Privileged               *bool            `json:"privileged,omitempty"`
	RunAsUser                *int64           `json:"runAsUser,omitempty"`
	RunAsGroup               *int64           `json:"runAsGroup,omitempty"`
	RunAsNonRoot             *bool            `json:"runAsNonRoot,omitempty"`
	ReadOnlyRootFilesystem   *bool            `json:"readOnlyRootFilesystem,omitempty"`
	AllowPrivilegeEscalation *bool            `json:"allowPrivilegeEscalation,omitempty"`
	SeccompProfile           *kSeccompProfile `json:"seccompProfile,omitempty"`
}

type kCapability string

type kCapabilities struct {
	Add  []kCapability `json:"add,omitempty"`
	Drop []kCapability `json:"drop,omitempty"`
}

const kSeccompProfileTypeLocalhost = "Localhost"

type kSeccompProfile struct {
	Type             string  `json:"type"`
	LocalhostProfile *string `json:"localhostProfile,omitempty"`
}

type kVolume struct {
	Name string `json:"name"`
	kVolumeSource
}

type kVolumeSource struct {
	EmptyDir              *kEmptyDirVolumeSource              `json:"emptyDir,omitempty"`
	PersistentVolumeClaim *kPersistentVolumeClaimVolumeSource `json:"persistentVolumeClaim,omitempty"`
}

const kStorageMediumMemory = "Memory"

type kEmptyDirVolumeSource struct {
	Medium string `json:"medium,omitempty"`
}

type kPersistentVolumeClaimVolumeSource struct {
	ClaimName string `json:"claimName"`
}

type kService struct {
	kTypeMeta
	ObjectMeta kObjectMeta  `json:"metadata"`
	Spec       kServiceSpec `json:"spec"`
	Status     struct {
		LoadBalancer kEmpty `json:"loadBalancer"`
	} `json:"status"`
}

type kServiceSpec struct {
	Ports    []kServicePort    `json:"ports,omitempty"`
	Selector map[string]string `json:"selector,omitempty"`
}

type kServicePort struct {
	Name       string       `json:"name,omitempty"`
	Protocol   kProtocol    `json:"protocol,omitempty"`
	Port       int32        `json:"port"`
	TargetPort kIntOrString `json:"targetPort"`
}

const kReadWriteOnce = "ReadWriteOnce"

type kPersistentVolumeClaim struct {
	kTypeMeta
	ObjectMeta kObjectMeta                `json:"metadata"`
	Spec       kPersistentVolumeClaimSpec `json:"spec"`
	Status     kEmpty                     `json:"status"`
}

type kPersistentVolumeClaimSpec struct {
	AccessModes []string              `json:"accessModes,omitempty"`
	Resources   kResourceRequirements `json:"resources"`
}

type kPolicyType string

const (
	kPolicyTypeIngress kPolicyType = "Ingress"
	kPolicyTypeEgress  kPolicyType = "Egress"
)

type kNetworkPolicy struct {
	kTypeMeta
	ObjectMeta kObjectMeta        `json:"metadata"`
	Spec       kNetworkPolicySpec `json:"spec"`
}

type kNetworkPolicySpec struct {
	PodSelector kLabelSelector              `json:"podSelector"`
	Ingress     []kNetworkPolicyIngressRule `json:"ingress,omitempty"`
	Egress      []kNetworkPolicyEgressRule  `json:"egress,omitempty"`
	PolicyTypes []kPolicyType               `json:"policyTypes,omitempty"`
}

type kNetworkPolicyIngressRule struct {
	Ports []kNetworkPolicyPort `json:"ports,omitempty"`
	From  []kNetworkPolicyPeer `json:"from,omitempty"`
}

type kNetworkPolicyEgressRule struct {
	Ports []kNetworkPolicyPort `json:"ports,omitempty"`
	To    []kNetworkPolicyPeer `json:"to,omitempty"`
}

type kNetworkPolicyPeer struct {
	PodSelector       *kLabelSelector `json:"podSelector,omitempty"`
	NamespaceSelector *kLabelSelector `json:"namespaceSelector,omitempty"`
	IPBlock           *kIPBlock       `json:"ipBlock,omitempty"`
}

type kIPBlock struct {
	CIDR string `json:"cidr"`
}

type kNetworkPolicyPort struct {
	Protocol *kProtocol    `json:"protocol,omitempty"`
	Port     *kIntOrString `json:"port,omitempty"`
	EndPort  *int32        `json:"endPort,omitempty"`
}
