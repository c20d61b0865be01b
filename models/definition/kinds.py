"""Directive kinds: what an assignment of each kind is expected to deliver.

Each kind has a Prefect flow of the same name (with dashes) in ``flows/``;
``generic`` serves any assignment that needs nothing special, so a new
directive needs only YAML.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Kind:
    name: str
    title: str
    deliverable: str
    checklist: tuple[str, ...]


KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        Kind(
            "network_transition",
            "Chuyển đổi công nghệ mạng di động",
            "Văn bản báo cáo lộ trình ngừng cung cấp dịch vụ 2G và văn bản đăng ký triển khai 5G",
            (
                "Đối chiếu lộ trình ngừng cung cấp dịch vụ 2G của Bộ Thông tin và Truyền thông",
                "Tổng hợp số thuê bao 2G còn hoạt động của từng doanh nghiệp",
                "Gửi văn bản đăng ký tham gia nhóm địa phương đầu tiên triển khai 5G",
            ),
        ),
        Kind(
            "permit_review",
            "Rà soát thủ tục cấp phép xây dựng trạm BTS",
            "Văn bản hướng dẫn cấp phép xây dựng trạm BTS thống nhất trên địa bàn tỉnh",
            (
                "Rà soát khó khăn, vướng mắc trong cấp phép xây dựng trạm BTS",
                "Thống nhất phương án tháo gỡ với các đơn vị liên quan",
                "Ban hành văn bản hướng dẫn thực hiện thống nhất, đồng bộ",
            ),
        ),
        Kind(
            "land_use_conversion",
            "Hướng dẫn chuyển mục đích sử dụng đất",
            "Văn bản hướng dẫn chuyển mục đích sử dụng đất để xây dựng trạm BTS",
            (
                "Hướng dẫn thực hiện Khoản 6, Điều 3 Nghị định số 53/2017/NĐ-CP",
                "Gửi hướng dẫn đến doanh nghiệp viễn thông và UBND cấp huyện",
            ),
        ),
        Kind(
            "industrial_park_access",
            "Tháo gỡ mặt bằng hạ tầng viễn thông trong khu, cụm công nghiệp",
            "Văn bản báo cáo kết quả tháo gỡ vướng mắc về mặt bằng trong các khu, cụm công nghiệp",
            (
                "Làm việc với chủ đầu tư hạ tầng các khu, cụm công nghiệp",
                "Xác định vị trí lắp đặt trạm BTS và tuyến cáp quang",
                "Báo cáo kết quả tháo gỡ vướng mắc",
            ),
        ),
        Kind(
            "annual_plan",
            "Kế hoạch phát triển hạ tầng viễn thông hàng năm",
            "Kế hoạch phát triển hạ tầng viễn thông được ban hành (số, ngày ban hành)",
            (
                "Tổng hợp kết quả của các sở, ngành và doanh nghiệp",
                "Xây dựng dự thảo kế hoạch, lấy ý kiến các đơn vị",
                "Ban hành kế hoạch",
            ),
        ),
        Kind(
            "generic",
            "Nhiệm vụ",
            "Văn bản báo cáo kết quả thực hiện nhiệm vụ",
            ("Thực hiện nhiệm vụ được giao", "Gửi văn bản báo cáo kết quả"),
        ),
    )
}
