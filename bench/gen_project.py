#!/usr/bin/env python3
"""Generate a ksec project and the equivalent kustomize tree (bench/render.sh,
bench/scale.sh).

usage: gen_project.py WORK RECIPIENT NAMESPACES CMS_PER_NS SECRETS_PER_NS CM_KEYS SECRET_KEYS

Writes WORK/project/namespaces/NS/cm-N.env (plain ConfigMap sources),
WORK/kustomize/NS/{cm-N.env,secret-N.env,kustomization.yaml} (secrets as
PLAINTEXT, for kustomize and as the input the caller encrypts into
WORK/project/namespaces/NS/secret-N.enc.env) and WORK/ksec.yaml (moved into
the project by the caller once the secrets are encrypted). Deterministic.
"""
import os, random, string, sys
work, recipient = sys.argv[1], sys.argv[2]
n_ns, n_cm, n_sec, cm_keys, sec_keys = map(int, sys.argv[3:8])
P, K = os.path.join(work, "project"), os.path.join(work, "kustomize")
rng = random.Random(20240602)          # deterministic workloads
alnum = string.ascii_letters + string.digits
def s(lo, hi): return "".join(rng.choice(alnum) for _ in range(rng.randint(lo, hi)))
# Values stay inside what kustomize's and sops's dotenv readers agree on: no
# quotes, spaces, '#' or backslashes.
width = max(3, len(str(n_ns - 1)))
names = [f"ns-{i:0{width}d}" for i in range(n_ns)]

def write(path, text):
    with open(path, "w") as f:
        f.write(text)

y = ["version: 1", "project: bench", "recipients:", f"  bench: {recipient}",
     "environments:", "  bench:", "    context: bench", "namespaces:"]
for ns in names:
    pdir, kdir = os.path.join(P, "namespaces", ns), os.path.join(K, ns)
    os.makedirs(pdir); os.makedirs(kdir)
    y += [f"  {ns}:", "    recipients: [bench]", "    configMaps:"]
    kz = [f"namespace: {ns}", "configMapGenerator:"]
    for c in range(n_cm):
        body = "".join(f"KEY_{i}=value-{i}-{s(8, 24)}\n" for i in range(cm_keys))
        write(os.path.join(pdir, f"cm-{c}.env"), body)
        write(os.path.join(kdir, f"cm-{c}.env"), body)
        y += [f"      - name: cm-{c}", f"        envFiles: [cm-{c}.env]"]
        kz += [f"- name: cm-{c}", f"  envs: [cm-{c}.env]"]
    y += ["    secrets:"]
    kz += ["secretGenerator:"]
    for c in range(n_sec):
        lines = [f"DB_URL=postgres://app_{s(4, 8)}:{s(20, 32)}@db.{ns}.svc:5432/app?sslmode=require"]
        lines += [f"SECRET_{i}={s(20, 40)}" for i in range(1, sec_keys)]
        # plaintext for kustomize; the ksec project gets it encrypted (next step)
        write(os.path.join(kdir, f"secret-{c}.env"), "".join(l + "\n" for l in lines))
        y += [f"      - name: secret-{c}", f"        sources: [secret-{c}.enc.env]"]
        kz += [f"- name: secret-{c}", f"  envs: [secret-{c}.env]"]
    write(os.path.join(kdir, "kustomization.yaml"), "\n".join(kz) + "\n")

write(os.path.join(K, "kustomization.yaml"), "resources:\n" + "".join(f"- {ns}\n" for ns in names))
write(os.path.join(work, "ksec.yaml"), "\n".join(y) + "\n")
