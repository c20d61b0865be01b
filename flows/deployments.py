"""The coordinator's console in the Prefect UI: one deployment per action, each with a typed Run form.

`dondoc serve --deployments` serves them from this machine (Prefect's
``serve``); prefect.yaml declares the same ones for process workers. Both run
the flows of flows/console.py: no free actor, no clock from the form, paths
confined to their folders.
"""

from __future__ import annotations

from datetime import timedelta

from prefect import serve
from prefect.deployments.runner import RunnerDeployment
from prefect.schedules import Cron, Interval
from prefect.types.entrypoint import EntrypointType

from flows.console import (decide_extension, escalation_sweep, launch_directive, produce_report, reassign_assignment,
                           record_update, review_result)
from models.settings import Settings

# What coordinators read in the Deployments list; `prefect deployment run "<flow>/<name>"` takes them too.
NAMES = {
    "launch-directive": "Khởi tạo văn bản",
    "record-update": "Ghi nhận báo cáo",
    "decide-extension": "Quyết định gia hạn",
    "review-result": "Xem xét kết quả",
    "reassign-assignment": "Giao lại nhiệm vụ",
    "produce-report": "Lập báo cáo",
    "escalation-sweep": "Quét theo lịch",
}


def build(settings: Settings) -> list[RunnerDeployment]:
    """Launch, record, decide an extension, review a result, reassign, report, and the sweep on its clock."""
    common = {"tags": ["dondoc"], "entrypoint_type": EntrypointType.MODULE_PATH}
    return [
        launch_directive.to_deployment(name=NAMES["launch-directive"], **common,
                                       description="Khởi tạo văn bản chỉ đạo từ tệp trong thư mục văn bản hoặc YAML dán vào."),
        record_update.to_deployment(name=NAMES["record-update"], description="Ghi nhận báo cáo của cơ quan.", **common),
        decide_extension.to_deployment(name=NAMES["decide-extension"], description="Đồng ý hoặc không đồng ý gia hạn.",
                                       **common),
        review_result.to_deployment(name=NAMES["review-result"],
                                    description="Xác nhận hoặc trả lại kết quả cơ quan đã báo cáo.", **common),
        reassign_assignment.to_deployment(name=NAMES["reassign-assignment"],
                                          description="Giao lại nhiệm vụ bị từ chối, hoặc giữ nguyên.", **common),
        produce_report.to_deployment(name=NAMES["produce-report"], description="Lập báo cáo gửi Cục Viễn thông.", **common),
        escalation_sweep.to_deployment(
            name=NAMES["escalation-sweep"],
            description="Quét hộp thư đi: mỗi 15 phút và 08:00 các ngày làm việc.",
            schedules=[Interval(timedelta(minutes=settings.sweep_minutes), timezone=settings.timezone),
                       Cron("0 8 * * 1-5", timezone=settings.timezone)],
            **common,
        ),
    ]


def serve_deployments(settings: Settings) -> None:
    """Register the deployments and run what the UI and the schedules ask for, until Ctrl-C or SIGTERM."""
    serve(*build(settings), limit=4, print_starting_message=False)
