"""Lambda entry points: thin shims that parse, call the core, and answer.

* :func:`amistate.shims.lambda_handler.handler`: the state Lambda (EventBridge,
  SNS and SQS events of Image Builder builds);
* :func:`amistate.shims.custom_resource.handler` and
  :func:`amistate.shims.custom_resource.on_event`: the preset custom resource.

Configuration comes from the environment only (:mod:`amistate.shims.config`).
"""
