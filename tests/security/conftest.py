from backends import SECRET
from hub_server import hub_fixture

# A hub with the default grants (a user reaches only their own names and conversations), on
# each backend in turn, with its worker. One per module: on RabbitMQ its worker competes for
# the shared `messages` queue, and must not outlive the module that wants it.
guarded = hub_fixture(permissions_file=None, worker=True, jwt_secret=SECRET)
