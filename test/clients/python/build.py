"""Builds, commits and healthchecks with docker-py (Debian's python3-docker), run by test/clients/build.test.ts.

What a Python program does with the classic builder's API: images.build from a folder (build args, a target stage,
labels, a Dockerfile in a subfolder), a failing build (BuildError with the step's words), a custom gzip context,
commit of a container, import from bytes, and a healthcheck it waits on. Prints one JSON object of what it saw.
Usage: build.py CONTEXT_DIR
"""
import io
import json
import sys
import tarfile
import time

import docker
from docker.errors import BuildError

client = docker.from_env()
api = client.api
ctx = sys.argv[1]
seen = {}

image, logs = client.images.build(
    path=ctx,
    dockerfile='sub/Dockerfile.py',
    tag='py-built:1',
    buildargs={'GREETING': 'hello from py'},
    target='final',
    labels={'made-by': 'docker-py'},
    rm=True,
)
seen['tags'] = image.tags
seen['labels'] = image.labels
seen['streamed_steps'] = [l['stream'].strip() for l in logs if 'stream' in l and l['stream'].startswith('Step ')]
seen['greeting'] = client.containers.run('py-built:1', remove=True).decode()

# The same build again: every step from the cache.
_, logs = client.images.build(path=ctx, dockerfile='sub/Dockerfile.py', tag='py-built:1',
                              buildargs={'GREETING': 'hello from py'}, target='final')
seen['cached'] = sum(1 for l in logs if 'stream' in l and 'Using cache' in l['stream'])

try:
    client.images.build(path=ctx, dockerfile='sub/Dockerfile.fail', tag='py-fails:1')
    seen['failure'] = None
except BuildError as e:
    seen['failure'] = e.msg
seen['fails_tagged'] = [t for i in client.images.list() for t in i.tags if t.startswith('py-fails')]

# A context the program makes itself, gzip-compressed (custom_context).
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode='w:gz') as tar:
    body = b'FROM busybox\nCOPY note /note\nCMD ["cat", "/note"]\n'
    for name, data in (('Dockerfile', body), ('note', b'from a custom context\n')):
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
buf.seek(0)
out = list(api.build(fileobj=buf, custom_context=True, encoding='gzip', tag='py-custom:1', decode=True))
seen['custom_aux'] = any('aux' in m and m['aux']['ID'].startswith('sha256:') for m in out)
seen['custom'] = client.containers.run('py-custom:1', remove=True).decode()

# Commit a container's change with a new CMD; import a tarball from bytes.
c = client.containers.run('busybox', ['sh', '-c', 'echo committed > /c.txt'], detach=True)
c.wait()
committed = c.commit(repository='py-commit', tag='1', message='by docker-py', changes=['CMD ["cat", "/c.txt"]'])
c.remove()
seen['commit_run'] = client.containers.run('py-commit:1', remove=True).decode()
seen['commit_comment'] = api.inspect_image(committed.id)['Comment']

buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode='w') as tar:
    data = b'imported\n'
    info = tarfile.TarInfo('hello.txt')
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))
api.import_image_from_data(buf.getvalue(), repository='py-imported', tag='1')
seen['imported_size'] = client.images.get('py-imported:1').attrs['Size']

# A healthcheck docker-py sets (nanoseconds) and waits on.
h = client.containers.run('busybox', 'sleep 60', detach=True, healthcheck={
    'test': ['CMD-SHELL', 'test -e /tmp/ready'], 'interval': 200_000_000, 'timeout': 2_000_000_000, 'retries': 3})
seen['health_config'] = h.attrs['Config']['Healthcheck']
h.exec_run(['touch', '/tmp/ready'])
deadline = time.time() + 20
while time.time() < deadline:
    h.reload()
    status = h.attrs['State']['Health']['Status']
    if status == 'healthy':
        break
    time.sleep(0.1)
seen['health'] = status
seen['health_log_ok'] = h.attrs['State']['Health']['Log'][-1]['ExitCode'] == 0
h.remove(force=True)

print(json.dumps(seen))
