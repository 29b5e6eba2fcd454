"""django-axes for log-ins over HTTP only."""

from axes.backends import AxesStandaloneBackend


class HttpAxesBackend(AxesStandaloneBackend):
    """Counts and locks out web log-ins. authenticate() without a request (Django's test
    Client.login, a script) is no web log-in, has no address to lock out, and is passed on to
    the next backend instead of raising AxesBackendRequestParameterRequired."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)
